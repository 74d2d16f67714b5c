/** Finding and running the native tools some tests need (cmake, a C compiler, python3), with readable failures. */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The absolute path of an executable on PATH, or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, name);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

/** Runs a command to completion; throws with its output if it fails. */
export function run(cmd: string, args: string[], options: SpawnSyncOptions = {}): string {
  const r = spawnSync(cmd, args, { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 600_000, ...options });
  if (r.error) throw r.error;
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}\n--- stdout\n${String(r.stdout).slice(-4000)}\n--- stderr\n${String(r.stderr).slice(-4000)}`);
  return String(r.stdout);
}

/**
 * BLINDSIGHT_CROSS=<GNU triple> (set by scripts/arm64-tests.mjs, which runs the tests under qemu-user): the C ABI is
 * built and its C programs compiled with that triple's cross compilers (Debian's g++-aarch64-linux-gnu), into a
 * build folder of their own; the programs run through the emulator like the Node that runs the tests.
 */
export const crossTriple = process.env.BLINDSIGHT_CROSS || undefined;
/** The C compiler the tests compile C programs with. */
export const cc = crossTriple ? `${crossTriple}-gcc` : 'cc';
export const cxx = crossTriple ? `${crossTriple}-g++` : 'c++';

export const capiBuildDir = path.join(repoRoot, crossTriple ? `build-capi-${crossTriple}` : 'build-capi');

/** Configures (once) and builds libblindsight with CMake into build-capi/; incremental after the first time. */
export function buildLibblindsight(): string {
  const cross = crossTriple
    ? [`-DCMAKE_SYSTEM_NAME=Linux`, `-DCMAKE_SYSTEM_PROCESSOR=${crossTriple.split('-')[0]}`, `-DCMAKE_C_COMPILER=${cc}`, `-DCMAKE_CXX_COMPILER=${cxx}`]
    : [];
  if (!existsSync(path.join(capiBuildDir, 'CMakeCache.txt')))
    run('cmake', ['-S', repoRoot, '-B', capiBuildDir, '-DCMAKE_BUILD_TYPE=Release', ...cross]);
  run('cmake', ['--build', capiBuildDir, '-j', '2']);
  const lib = ['libblindsight.so', 'libblindsight.dylib'].map((f) => path.join(capiBuildDir, f)).find(existsSync);
  if (!lib) throw new Error(`cmake built no libblindsight in ${capiBuildDir}`);
  return lib;
}

/** Compiles a C program against native/include/blindsight.h and libblindsight as strict C99; returns the binary. */
export function compileC(source: string, name: string): string {
  const out = path.join(capiBuildDir, 'tests', name);
  mkdirSync(path.dirname(out), { recursive: true });
  run(cc, [
    '-std=c99', '-Wall', '-Wextra', '-Werror', '-pedantic', '-O2',
    '-I', path.join(repoRoot, 'native', 'include'),
    path.join(repoRoot, source),
    '-L', capiBuildDir, '-lblindsight', `-Wl,-rpath,${capiBuildDir}`, '-lm', '-lpthread',
    '-o', out,
  ]);
  return out;
}
