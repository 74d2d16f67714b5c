#!/usr/bin/env node
/**
 * What can be measured of the arm64 kernels without arm64 hardware: guest instructions retired per useful FLOP, under
 * qemu-user, for each arm64 level (generic, neon, neonbf16) on one attention call. Emulation says nothing about time
 * (an emulated FMA costs what an emulated add does, and caches, latencies and issue width are not modelled), so this
 * counts work, not speed: fewer instructions per FLOP means the level does the same arithmetic in fewer, wider
 * instructions.
 *
 * Each measurement runs the arm64 Node twice under qemu-aarch64 with bench/qemu_insn_count.c (a TCG plugin, built here
 * for the host): once with the call and once without, the same inputs and plan built both times; the difference is
 * the call. One thread, so the count is exact. Needs what scripts/arm64-tests.mjs set up (.cache/arm64/: the arm64
 * Node and the cross-compiled prebuild), and a host C compiler.
 *
 *   node bench/arm64_insn_count.mjs [--tokens 1024] [--heads 4/2] [--head-dim 128] [--category dense] [--calls 2]
 *                                   [--arch x64]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const tokens = Number(opt('--tokens', '1024'));
const [numHeads, numKvHeads] = opt('--heads', '4/2').split('/').map(Number);
const headDim = Number(opt('--head-dim', '128'));
const category = opt('--category', 'dense');
const calls = Number(opt('--calls', '2'));
// --arch x64: the same count for this machine's x86-64 build (build/Release) under qemu-x86_64, whose TCG emulates
// AVX2 but not AVX-512: generic against avx2, to set beside the wall-clock ratio of the same levels run natively.
const x64 = opt('--arch', 'arm64') === 'x64';
const cache = path.join(root, '.cache', 'arm64');
const node = x64 ? process.execPath : path.join(cache, 'node', 'bin', 'node');
const prebuild = x64 ? root : path.join(cache, 'addon');
const LEVELS = x64 ? ['generic', 'avx2'] : ['generic', 'neon', 'neonbf16'];
if (!x64 && (!existsSync(node) || !existsSync(path.join(prebuild, 'prebuilds', 'linux-arm64', 'blindsight.node')))) {
  console.error('arm64_insn_count: run scripts/arm64-tests.mjs first (it fetches the arm64 Node and cross-compiles the prebuild)');
  process.exit(2);
}
mkdirSync(cache, { recursive: true });
const plugin = path.join(cache, 'qemu_insn_count.so');
const cc = spawnSync('cc', ['-O2', '-shared', '-fPIC', '-fvisibility=hidden', '-o', plugin, path.join(root, 'bench', 'qemu_insn_count.c')], { stdio: 'inherit' });
if (cc.status !== 0) process.exit(1);

const work = mkdtempSync(path.join(tmpdir(), 'blindsight-insn-'));
const script = path.join(work, 'call.mjs');
// One prompt: text, two images, text; every head of one category.
writeFileSync(
  script,
  `import { Layout, MaskPlan, attentionSync, f32ToBf16Bits, f32ToF16Bits } from ${JSON.stringify(path.join(root, 'dist', 'index.js'))};
const [isa, dtype, calls] = [process.argv[2], process.argv[3], Number(process.argv[4])];
const img = Math.floor((${tokens} - 128) / 2);
const layout = Layout.fromSegments([[{ kind: 'text', length: 64 }, { kind: 'image', length: img }, { kind: 'image', length: ${tokens} - 128 - img }, { kind: 'text', length: 64 }]]);
const plan = MaskPlan.build(layout);
const heads = Array(${numHeads}).fill(${JSON.stringify(category)});
let s = 7;
const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
const make = (n) => { const f = Float32Array.from({ length: n }, rnd); return dtype === 'f32' ? f : Uint16Array.from(f, dtype === 'bf16' ? f32ToBf16Bits : f32ToF16Bits); };
const n = layout.numTokens;
const q = make(n * ${numHeads} * ${headDim}), k = make(n * ${numKvHeads} * ${headDim}), v = make(n * ${numKvHeads} * ${headDim});
const args = { q, k, v, plan, heads, numHeads: ${numHeads}, numKvHeads: ${numKvHeads}, headDim: ${headDim}, dtype, isa, threads: 1 };
const ms = [];
for (let i = 0; i < calls; i++) { const t0 = performance.now(); attentionSync(args); ms.push(performance.now() - t0); }
console.log(JSON.stringify({ visiblePairs: plan.stats(heads).visiblePairs, tokens: n, ms: ms.sort((a, b) => a - b)[ms.length >> 1] ?? null }));
`,
);

function count(isa, dtype, n) {
  const r = spawnSync(x64 ? 'qemu-x86_64' : 'qemu-aarch64', ['-cpu', 'max', '-plugin', plugin, '-d', 'plugin', node, '--single-threaded', script, isa, dtype, String(n)], {
    encoding: 'utf8',
    env: { ...process.env, QEMU_LD_PREFIX: '/usr/aarch64-linux-gnu', BLINDSIGHT_PREBUILD: prebuild, UV_THREADPOOL_SIZE: '1' },
  });
  const insns = /insns (\d+)/.exec(r.stderr ?? '');
  if (r.status !== 0 || !insns) throw new Error(`${isa} ${dtype}: exit ${r.status}\n${r.stderr}`);
  return { insns: Number(insns[1]), ...JSON.parse(r.stdout.trim().split('\n').pop()) };
}

const rows = [];
for (const dtype of ['f32', 'f16', 'bf16'])
  for (const isa of LEVELS) {
    if (isa === 'neonbf16' && dtype !== 'bf16') continue; // neonbf16 differs from neon only for bf16 inputs
    const base = count(isa, dtype, 0);
    const run = count(isa, dtype, calls);
    const perCall = (run.insns - base.insns) / calls;
    const flops = 4 * headDim * run.visiblePairs; // Q.K^T and P.V: 2 FLOPs per multiply-add, headDim each
    rows.push({ isa, dtype, perCall, flops, perFlop: perCall / flops });
    console.log(`${dtype.padEnd(5)} ${isa.padEnd(9)} ${(perCall / 1e6).toFixed(1).padStart(9)} M instructions/call  ${(perCall / flops).toFixed(4)} per FLOP`);
  }
if (x64) {
  // The wall clock of every x86 level run natively (one thread, median of 5 calls), for the same shapes.
  for (const dtype of ['f32', 'bf16'])
    for (const isa of ['generic', 'avx2', 'avx512', 'avx512bf16']) {
      const r = spawnSync(node, [script, isa, dtype, '5'], { encoding: 'utf8', env: { ...process.env, BLINDSIGHT_PREBUILD: prebuild } });
      if (r.status !== 0) continue; // a level this CPU lacks
      const { ms, visiblePairs } = JSON.parse(r.stdout.trim().split('\n').pop());
      const row = rows.find((x) => x.isa === isa && x.dtype === dtype);
      if (row) row.ms = ms;
      else rows.push({ isa, dtype, ms, flops: 4 * headDim * visiblePairs });
      console.log(`native ${dtype.padEnd(5)} ${isa.padEnd(11)} ${ms.toFixed(1).padStart(8)} ms/call  ${((4 * headDim * visiblePairs) / ms / 1e6).toFixed(1)} GFLOP/s`);
    }
}
for (const dtype of ['f32', 'f16', 'bf16']) {
  const g = rows.find((r) => r.isa === 'generic' && r.dtype === dtype);
  if (!g) continue;
  for (const r of rows.filter((x) => x.dtype === dtype && x.isa !== 'generic' && x.perFlop))
    console.log(`${dtype} ${r.isa}: ${(g.perFlop / r.perFlop).toFixed(2)}x fewer instructions per FLOP than generic`);
}
console.log(JSON.stringify({ arch: x64 ? 'x64' : 'arm64', tokens, numHeads, numKvHeads, headDim, category, calls, rows }));
rmSync(work, { recursive: true, force: true });
