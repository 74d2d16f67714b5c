#!/usr/bin/env node
/**
 * `npm run prebuild`: makes the prebuilt binaries that `npm pack` ships, so that `npm install` of the tarball needs
 * no compiler (the `install` script, node-gyp-build, loads a matching prebuild and compiles nothing).
 *
 *  - prebuilds/<platform>-<arch>/blindsight.node — the CPU addon, built by prebuildify (--napi --strip) for Node-API,
 *    so one binary serves every Node version this package supports. A Linux prebuild loads on glibc 2.28 or newer
 *    with any libstdc++: it links libstdc++ statically and pins the few glibc symbols whose default version on the
 *    build machine is newer (native/compat/glibc_floor.c, binding.gyp's bs_glibc_floor); test/e2e/glibc_floor.test.ts
 *    checks the symbol versions.
 *  - prebuilds/<platform>-<arch>/cuda/<name>.node — the CUDA-enabled addon, copied here when one has been built into
 *    build-cuda/ (cmake-js; see cmake/cuda_addon.cmake) or named by BLINDSIGHT_CUDA_ADDON=<file>. It sits in a
 *    subfolder because node-gyp-build only considers the files directly in prebuilds/<platform>-<arch>/: the CUDA
 *    addon is never picked up by the CPU loader by accident, and the CUDA loader looks for it by this path.
 *
 * package.json has no `build` script on purpose: npm would run this file as its pre-hook. `npm run compile` builds
 * the checkout.
 *
 * Options (after `--`): --skip-cuda (ignore build-cuda/), --quiet (less compiler output), --arch <arch> (another
 * architecture than this machine's: on Linux, arm64 on an x64 machine cross-compiles with Debian's
 * g++-aarch64-linux-gnu, and x64 on arm64 with g++-x86-64-linux-gnu; the CUDA addon is then skipped), --out <dir>
 * (write <dir>/prebuilds/<platform>-<arch>/ instead of the checkout's prebuilds/).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const args = new Set(argv);
const option = (name) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const arch = option('--arch') ?? process.arch;
const cross = arch !== process.arch;
const target = `${process.platform}-${arch}`;
const outRoot = path.resolve(option('--out') ?? root);
const outDir = path.join(outRoot, 'prebuilds', target);
// The GNU triples of Debian's cross compilers (g++-aarch64-linux-gnu, g++-x86-64-linux-gnu).
const TRIPLES = { arm64: 'aarch64-linux-gnu', x64: 'x86_64-linux-gnu' };
if (cross && (process.platform !== 'linux' || !TRIPLES[arch])) fail(`cannot cross-compile for ${target} on ${process.platform}-${process.arch}`);

rmSync(outDir, { recursive: true, force: true }); // no stale binaries from an earlier run end up in the tarball
buildCpuAddon();
if (!args.has('--skip-cuda') && !cross) copyCudaAddon();
for (const f of listFiles(outDir)) console.log(`prebuild: ${path.relative(root, f)} (${statSync(f).size} bytes)`);

function buildCpuAddon() {
  // prebuildify compiles in its working directory and moves the result out of build/Release. Building in a copy of
  // the addon's sources leaves the checkout's own build (what `npm install` compiled) untouched.
  const staging = path.join(root, 'build', `prebuild-staging-${arch}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  for (const entry of ['package.json', 'binding.gyp', 'native'])
    cpSync(path.join(root, entry), path.join(staging, entry), { recursive: true });
  const prebuildify = createRequire(import.meta.url).resolve('prebuildify/bin.js');
  // An explicit target keeps prebuildify from asking for the headers of a newer Node than the one running: a
  // Node-API binary built against this Node's headers loads in every later Node.
  const pargv = [prebuildify, '--napi', '--strip', '--target', process.versions.node, '--arch', arch, '--cwd', staging, '--out', outRoot];
  if (args.has('--quiet')) pargv.push('--quiet');
  const env = { ...process.env, JOBS: process.env.JOBS ?? 'max' };
  // The glibc floor: binding.gyp's bs_glibc_floor.
  if (process.platform === 'linux') env.BLINDSIGHT_GLIBC_FLOOR = '1';
  if (cross) {
    const t = TRIPLES[arch];
    Object.assign(env, { CC: `${t}-gcc`, CXX: `${t}-g++`, LINK: `${t}-g++`, AR: `${t}-ar`, PREBUILD_STRIP_BIN: `${t}-strip` });
    for (const tool of [env.CXX, env.PREBUILD_STRIP_BIN])
      if (spawnSync(tool, ['--version']).error) fail(`${tool} not found: install Debian's g++-${t.replace(/_/g, '-')}`);
  }
  const r = spawnSync(process.execPath, pargv, { cwd: root, env, stdio: 'inherit' });
  rmSync(staging, { recursive: true, force: true });
  if (r.status !== 0) fail(`prebuildify failed (exit ${r.status ?? r.signal})`);
}

function copyCudaAddon() {
  const source = process.env.BLINDSIGHT_CUDA_ADDON || findCudaAddon();
  if (!source) return;
  if (!existsSync(source)) fail(`BLINDSIGHT_CUDA_ADDON names ${source}, which does not exist`);
  const dest = path.join(outDir, 'cuda', path.basename(source));
  mkdirSync(path.dirname(dest), { recursive: true });
  copyFileSync(source, dest);
  if (process.platform === 'linux' && spawnSync('strip', ['--strip-all', dest], { stdio: 'inherit' }).status !== 0)
    console.warn(`prebuild: could not strip ${path.relative(root, dest)}; shipping it unstripped`);
}

// The newest .node under build-cuda/, Release builds first (cmake-js puts its output in build-cuda/Release/).
function findCudaAddon() {
  const dir = path.join(root, 'build-cuda');
  if (!existsSync(dir)) return undefined;
  const found = listFiles(dir).filter((f) => f.endsWith('.node'));
  found.sort((a, b) => Number(b.includes(`${path.sep}Release${path.sep}`)) - Number(a.includes(`${path.sep}Release${path.sep}`)) || statSync(b).mtimeMs - statSync(a).mtimeMs);
  return found[0];
}

function listFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? listFiles(p) : [p];
  });
}

function fail(message) {
  console.error(`prebuild: ${message}`);
  process.exit(1);
}
