import { isaOption } from './args.js';
import { callNative, rangeError } from '../core/errors.js';
import { native, type NativeCpuInfo } from '../core/native.js';

/** Sets the CPU kernel pool's size (0 = the machine's cores). Takes effect for the next call. */
export function setThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 0 || threads > 1024)
    throw rangeError(`threads must be an integer in [0, 1024], got ${String(threads)}`);
  native().setThreads(threads);
}

export function getThreads(): number {
  return native().getThreads();
}

/** The CPU kernel ISA levels this machine runs, and the one calls use by default. */
export function cpuInfo(): NativeCpuInfo {
  return native().cpuInfo();
}

/**
 * The machine's f32 FMA throughput in GFLOP/s: a tight loop of independent FMAs on the kernel pool's threads with the
 * given ISA level's widest vectors (default: the one attention uses), for about `seconds`. The benchmark harness
 * reports attention throughput as a fraction of this.
 */
export function fmaPeak(options: { threads?: number; isa?: string; seconds?: number } = {}): number {
  const threads = options.threads ?? 0;
  if (!Number.isInteger(threads) || threads < 0 || threads > 1024)
    throw rangeError(`threads must be an integer in [0, 1024], got ${String(threads)}`);
  const seconds = options.seconds ?? 1;
  if (typeof seconds !== 'number' || !(seconds > 0 && seconds <= 60)) throw rangeError(`seconds must be in (0, 60]`);
  const isa = isaOption(options.isa ?? undefined);
  return callNative(() => native().fmaPeak(threads, isa, seconds));
}
