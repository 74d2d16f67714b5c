import { native } from './native.js';

/** Sets the CPU kernel pool's size (0 = the machine's cores). Takes effect for the next call. */
export function setThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 0 || threads > 1024)
    throw new RangeError(`threads must be an integer in [0, 1024], got ${String(threads)}`);
  native().setThreads(threads);
}

export function getThreads(): number {
  return native().getThreads();
}

/** The CPU kernel ISA levels this machine runs, and the one calls use by default. */
export function cpuInfo(): { isas: string[]; defaultIsa: string; defaultThreads: number } {
  return native().cpuInfo();
}
