#!/usr/bin/env node
/**
 * `npm run build:cuda`: builds the CUDA-enabled module (build-cuda/Release/blindsight_cuda.node) with cmake-js.
 * Never part of `npm install`. Without nvcc the CMake project prints why and builds nothing (exit 0); without cmake this
 * script does the same. Extra arguments go to cmake-js; parallel jobs default to the machine's cores
 * (BLINDSIGHT_BUILD_JOBS overrides). Architectures: CUDAARCHS (see cmake/cuda_addon.cmake).
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cmake = spawnSync('cmake', ['--version'], { stdio: 'ignore' });
if (cmake.error || cmake.status !== 0) {
  console.log('blindsight: cmake not found; skipping the CUDA addon (install CMake >= 3.20 and nvcc to build it)');
  process.exit(0);
}
const require = createRequire(import.meta.url);
const cmakeJs = path.join(path.dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
const jobs = process.env.BLINDSIGHT_BUILD_JOBS ?? String(availableParallelism());
// Only the addon: the same CMake project also defines the C library (cmake/libblindsight.cmake), built on its own.
const args = [cmakeJs, 'rebuild', '--directory', root, '--out', path.join(root, 'build-cuda'), '--target', 'blindsight_cuda_addon',
  '--parallel', jobs, ...process.argv.slice(2)];
const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
