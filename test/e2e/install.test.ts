/**
 * What a user gets from npm: `npm run prebuild`, `npm pack`, then `npm install` of the tarball into an empty project
 * whose PATH holds only node, npm and sh (no g++, cc, make or python3), offline from the npm cache. The prebuilt
 * binary must load and compute the reference's numbers with nothing compiled. Without a matching prebuild the install
 * compiles from source, and a binary that cannot load produces an error that says why and what to do.
 *
 * The checkout is left as found: its prebuilds/ (if any) is set aside while the test makes its own, then restored.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeadPolicy, Layout, MaskPlan, type HeadCategory } from '../../dist/index.js';
import { refAttention, refLayout, relL2, type Segment } from '../oracle/reference.js';
import { randomQkv } from '../helpers/tensors.js';
import { repoRoot, run, which } from '../helpers/toolchain.js';

const target = `${process.platform}-${process.arch}`;
const npmCli = realpathSync(which('npm') ?? 'npm');
let work: string;
let tarball: string;
let bareBin: string;

/** An environment with none of the npm_* variables of the `npm test` that started us, and the given PATH. */
function cleanEnv(PATH: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR ?? tmpdir() };
  if (process.env.npm_config_cache) env.npm_config_cache = process.env.npm_config_cache;
  // Under emulation (scripts/arm64-tests.mjs): the emulator's settings, and the cross compilers a source build uses.
  for (const k of ['QEMU_CPU', 'QEMU_LD_PREFIX', 'CC', 'CXX', 'LINK', 'AR']) if (process.env[k]) env[k] = process.env[k];
  return env;
}

function npm(args: string[], cwd: string, PATH: string): string {
  return run(process.execPath, [npmCli, ...args], { cwd, env: cleanEnv(PATH) });
}

function emptyProject(name: string): string {
  const dir = path.join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
  return dir;
}

// The installed package as its user calls it: one attention call (async and sync) on inputs the test wrote.
const CHECK = `
import { readFileSync, writeFileSync } from 'node:fs';
import { Layout, MaskPlan, attention, attentionSync, nativeAddonPath } from 'blindsight';
const spec = JSON.parse(readFileSync('spec.json', 'utf8'));
const f32 = (f) => { const b = readFileSync(f); return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4); };
const plan = MaskPlan.build(Layout.fromSegments(spec.segments));
const args = { q: f32('q.bin'), k: f32('k.bin'), v: f32('v.bin'), plan, heads: spec.heads, numHeads: spec.numHeads,
  numKvHeads: spec.numKvHeads, headDim: spec.headDim, returnLse: true };
const a = await attention(args);
const s = attentionSync(args);
writeFileSync('out.bin', a.out); writeFileSync('lse.bin', a.lse); writeFileSync('out-sync.bin', s.out);
console.log(JSON.stringify({ addon: nativeAddonPath() }));
`;

// The same from CommonJS: require() of the main entry and both subpaths resolves to the CommonJS build.
const CHECK_CJS = `
const { readFileSync, writeFileSync } = require('node:fs');
const { Layout, MaskPlan, attentionSync, nativeAddonPath } = require('blindsight');
const { calibrate } = require('blindsight/calibrate');
const { policyFlops } = require('blindsight/report');
if (typeof calibrate !== 'function' || typeof policyFlops !== 'function') throw new Error('subpath exports missing');
const spec = JSON.parse(readFileSync('spec.json', 'utf8'));
const f32 = (f) => { const b = readFileSync(f); return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4); };
const plan = MaskPlan.build(Layout.fromSegments(spec.segments));
const s = attentionSync({ q: f32('q.bin'), k: f32('k.bin'), v: f32('v.bin'), plan, heads: spec.heads, numHeads: spec.numHeads,
  numKvHeads: spec.numKvHeads, headDim: spec.headDim });
writeFileSync('out-cjs.bin', s.out);
console.log(JSON.stringify({ addon: nativeAddonPath(), entry: require.resolve('blindsight') }));
`;

// Loads the package and reports how loading failed, if it did.
const PROBE = `
try { const m = await import('blindsight'); m.cpuInfo(); console.log(JSON.stringify({ ok: true })); }
catch (e) { console.log(JSON.stringify({ ok: false, code: e.code, message: e.message })); }
`;

describe('the packed tarball installs and runs without a compiler', () => {
  const checkoutPrebuilds = path.join(repoRoot, 'prebuilds');
  let setAside: string | undefined;
  beforeAll(() => {
    work = mkdtempSync(path.join(tmpdir(), 'blindsight-install-'));
    if (existsSync(checkoutPrebuilds)) {
      cpSync(checkoutPrebuilds, (setAside = path.join(work, 'checkout-prebuilds')), { recursive: true });
      rmSync(checkoutPrebuilds, { recursive: true });
    }
    // A stand-in for the CUDA addon that cannot load: if node-gyp-build ever picked it instead of the CPU addon, every
    // load below would fail.
    const fakeCuda = path.join(work, 'cuda', 'blindsight.node');
    mkdirSync(path.dirname(fakeCuda));
    writeFileSync(fakeCuda, 'stands in for the CUDA addon');
    run(process.execPath, [npmCli, 'run', 'prebuild', '--', '--quiet'], { env: { ...process.env, BLINDSIGHT_CUDA_ADDON: fakeCuda } });
    const packed = JSON.parse(run(process.execPath, [npmCli, 'pack', '--json', '--pack-destination', work]).replace(/^[^[]*/s, ''));
    tarball = path.join(work, packed[0].filename);
    // A PATH with node, npm and a shell and nothing else: no compiler, make or python can run.
    bareBin = path.join(work, 'bin');
    mkdirSync(bareBin);
    symlinkSync(process.execPath, path.join(bareBin, 'node'));
    symlinkSync(npmCli, path.join(bareBin, 'npm'));
    symlinkSync('/bin/sh', path.join(bareBin, 'sh'));
    // The runtime dependencies come from the npm cache (npm ci put them there); make sure, then install offline.
    const deps = ['node-gyp-build', 'node-addon-api'].map((d) => `${d}@${JSON.parse(readFileSync(path.join(repoRoot, 'node_modules', d, 'package.json'), 'utf8')).version}`);
    npm(['cache', 'add', '--prefer-offline', ...deps], work, process.env.PATH ?? '');
  }, 600_000);
  afterAll(() => {
    rmSync(checkoutPrebuilds, { recursive: true, force: true });
    if (setAside) cpSync(setAside, checkoutPrebuilds, { recursive: true });
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the tarball carries dist/, the sources, the C ABI build files, the docs and the prebuild, and nothing else', () => {
    const files = run('tar', ['tzf', tarball]).trim().split('\n').map((f) => f.replace(/^package\//, ''));
    for (const f of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/cjs/package.json', 'dist/attention/hook.js', 'dist/calibration/index.js',
      'dist/calibration/index.d.ts', 'dist/report/index.js', 'dist/report/index.d.ts', 'binding.gyp', 'native/core/plan.cpp', 'native/compat/glibc_floor.c',
      'native/include/blindsight.h', 'native/capi/attention_api.cpp', 'native/cpu/isa_levels.json', 'docs/api.md', 'CMakeLists.txt', 'cmake/libblindsight.cmake', `prebuilds/${target}/blindsight.node`,
      `prebuilds/${target}/cuda/blindsight.node`])
      expect(files).toContain(f);
    const allowed = /^(package\.json|README\.md|LICENSE|binding\.gyp|CMakeLists\.txt|docs\/[\w-]+\.md|dist\/.*\.(js|d\.ts)|dist\/cjs\/package\.json|native\/.*\.(h|c|cpp|cu|cuh)|native\/cpu\/isa_levels\.json|cmake\/.*|prebuilds\/.*\.node)$/;
    expect(files.filter((f) => !allowed.test(f))).toEqual([]);
  });

  it('installs offline with no compiler on PATH, compiles nothing, and loads the prebuilt binary', () => {
    for (const tool of ['g++', 'c++', 'cc', 'gcc', 'make', 'python3', 'python'])
      expect(spawnSync(tool, ['--version'], { env: cleanEnv(bareBin) }).error, `${tool} must not be runnable`).toBeDefined();
    const app = emptyProject('app');
    npm(['install', '--offline', '--no-audit', '--no-fund', '--foreground-scripts', tarball], app, bareBin);
    const installed = path.join(app, 'node_modules', 'blindsight');
    expect(existsSync(path.join(installed, `prebuilds/${target}/blindsight.node`))).toBe(true);
    expect(existsSync(path.join(installed, 'build')), 'nothing was compiled').toBe(false);
    expect(Object.keys(JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')).dependencies).sort()).toEqual(['node-addon-api', 'node-gyp-build']);

    // A small attention call, every category, GQA, checked against the float64 reference.
    const segments: Segment[][] = [[{ kind: 'text', length: 9 }, { kind: 'image', length: 70 }, { kind: 'text', length: 4 }, { kind: 'image', length: 45 }], [{ kind: 'image', length: 30 }, { kind: 'text', length: 6 }]];
    const heads: HeadCategory[] = ['dense', 'sink', 'intra-image', 'intra-image+sink'];
    const [numHeads, numKvHeads, headDim] = [4, 2, 32];
    const n = Layout.fromSegments(segments).numTokens;
    const { q, k, v } = randomQkv(77, n, numHeads, numKvHeads, headDim);
    writeFileSync(path.join(app, 'spec.json'), JSON.stringify({ segments, heads, numHeads, numKvHeads, headDim }));
    for (const [f, t] of [['q.bin', q], ['k.bin', k], ['v.bin', v]] as const) writeFileSync(path.join(app, f), t);
    writeFileSync(path.join(app, 'check.mjs'), CHECK);
    const report = JSON.parse(run(process.execPath, ['check.mjs'], { cwd: app, env: cleanEnv(bareBin) }));
    expect(report.addon).toBe(realpathSync(path.join(installed, `prebuilds/${target}/blindsight.node`)));
    const read = (f: string) => { const b = readFileSync(path.join(app, f)); return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4); };
    const ref = refAttention({ q, k, v, layout: refLayout(segments), heads, numHeads, numKvHeads, headDim, options: { textKeys: true, bidirectionalImages: false, window: null } });
    expect(read('out.bin').every(Number.isFinite)).toBe(true);
    expect(relL2(read('out.bin'), ref.out)).toBeLessThan(1e-5);
    expect(relL2(read('lse.bin'), ref.lse)).toBeLessThan(1e-5);
    expect(read('out-sync.bin')).toEqual(read('out.bin'));

    // The same call from a CommonJS file: the CommonJS build, the same prebuilt binary, the same numbers.
    writeFileSync(path.join(app, 'check.cjs'), CHECK_CJS);
    const cjs = JSON.parse(run(process.execPath, ['check.cjs'], { cwd: app, env: cleanEnv(bareBin) }));
    expect(cjs.addon).toBe(report.addon);
    expect(cjs.entry).toBe(realpathSync(path.join(installed, 'dist/cjs/index.js')));
    expect(read('out-cjs.bin')).toEqual(read('out-sync.bin'));

    // The README's Node example, run against the installed package.
    copyFileSync(path.join(repoRoot, 'examples/node/hook.mjs'), path.join(app, 'hook.mjs'));
    const line = run(process.execPath, ['hook.mjs'], { cwd: app, env: cleanEnv(bareBin) }).trim();
    const m = /^4 layers, 552 tokens: kept ([\d.]+) % of dense attention FLOPs/.exec(line);
    expect(m, line).not.toBeNull();
    const layout = Layout.fromSegments([{ kind: 'text', length: 24 }, { kind: 'image', length: 256 }, { kind: 'image', length: 256 }, { kind: 'text', length: 16 }]);
    const cats: HeadCategory[] = ['dense', 'sink', 'intra-image', 'intra-image+sink'];
    const policy = new HeadPolicy(Array.from({ length: 4 }, (_, l) => Array.from({ length: 8 }, (_, h) => cats[(l + h) % 4])));
    const plan = MaskPlan.build(layout);
    const kept = [0, 1, 2, 3].reduce((a, l) => a + plan.stats(policy.layer(l)).visiblePairs, 0) / (4 * plan.stats(policy.layer(0)).denseCausalPairs);
    expect(Number(m![1])).toBeCloseTo(100 * kept, 2);

    // The micro-batch / KV cache / ring-step example: both agree with the whole-prompt call to rounding.
    copyFileSync(path.join(repoRoot, 'examples/node/kv_cache.mjs'), path.join(app, 'kv_cache.mjs'));
    const kv = run(process.execPath, ['kv_cache.mjs'], { cwd: app, env: cleanEnv(bareBin) }).trim();
    const d = /^668 tokens: micro-batches (\S+), ring step (\S+), future shard skipped: true$/.exec(kv);
    expect(d, kv).not.toBeNull();
    expect(Number(d![1])).toBeLessThan(1e-5);
    expect(Number(d![2])).toBeLessThan(1e-5);
  });

  it('says why and what to do when the addon cannot load', () => {
    const app = path.join(work, 'app');
    const prebuilds = path.join(app, 'node_modules', 'blindsight', 'prebuilds');
    const probe = () => {
      writeFileSync(path.join(app, 'probe.mjs'), PROBE);
      return JSON.parse(run(process.execPath, ['probe.mjs'], { cwd: app, env: cleanEnv(bareBin) }));
    };
    renameSync(prebuilds, `${prebuilds}.away`);
    try {
      const r = probe();
      expect(r).toMatchObject({ ok: false, code: 'NATIVE_LOAD_FAILED' });
      expect(r.message).toContain(`Could not load the blindsight native addon for ${target}`);
      expect(r.message).toContain('No binary matched');
      expect(r.message).toContain('Possible solutions:');
      expect(r.message).toContain('npm rebuild blindsight --build-from-source');
      expect(r.message).toContain('--ignore-scripts');
    } finally {
      renameSync(`${prebuilds}.away`, prebuilds);
    }
    // A package whose prebuilds are all for other platforms: the message lists them.
    const other = path.join(prebuilds, 'sunos-x64');
    renameSync(path.join(prebuilds, target), other);
    try {
      const r = probe();
      expect(r).toMatchObject({ ok: false, code: 'NATIVE_LOAD_FAILED' });
      expect(r.message).toContain(`ships prebuilt binaries for sunos-x64 only (Linux ones need glibc >= 2.28); on ${target} it must be compiled`);
      expect(r.message).toContain('npm rebuild blindsight --build-from-source');
    } finally {
      renameSync(other, path.join(prebuilds, target));
    }
    const binary = path.join(prebuilds, target, 'blindsight.node');
    copyFileSync(binary, `${binary}.good`);
    writeFileSync(binary, 'not a shared object');
    try {
      const r = probe();
      expect(r).toMatchObject({ ok: false, code: 'NATIVE_LOAD_FAILED' });
      expect(r.message).toContain(`While loading: ${binary}`);
      expect(r.message).toMatch(/Reason: .*(invalid ELF header|file too short)/);
      expect(r.message).toContain('rm -rf node_modules && npm install');
      expect(r.message).toContain('Possible solutions:');
    } finally {
      renameSync(`${binary}.good`, binary);
    }
    expect(probe()).toEqual({ ok: true });
  });

  it('falls back to compiling from source when no prebuild matches', () => {
    // The same tarball without its prebuilds/, installed where the compilers are.
    const unpacked = path.join(work, 'unpacked');
    mkdirSync(unpacked);
    run('tar', ['xzf', tarball, '-C', unpacked]);
    rmSync(path.join(unpacked, 'package', 'prebuilds'), { recursive: true });
    const bare = path.join(work, 'no-prebuilds.tgz');
    run('tar', ['czf', bare, '-C', unpacked, 'package']);
    const app = emptyProject('app-from-source');
    npm(['install', '--offline', '--no-audit', '--no-fund', bare], app, process.env.PATH ?? '');
    const built = path.join(app, 'node_modules', 'blindsight', 'build', 'Release', 'blindsight.node');
    expect(existsSync(built)).toBe(true);
    writeFileSync(path.join(app, 'probe.mjs'), PROBE.replace('m.cpuInfo();', 'm.cpuInfo(); if (m.nativeAddonPath() !== ' + JSON.stringify(built) + ') throw new Error(m.nativeAddonPath());'));
    expect(JSON.parse(run(process.execPath, ['probe.mjs'], { cwd: app, env: cleanEnv(bareBin) }))).toEqual({ ok: true });
  });
});
