/**
 * The C ABI (native/include/blindsight.h, libblindsight built by CMake) as C and Python callers see it: a C driver
 * compiled as strict C99 runs random problems that are checked against the float64 reference, a C program checks
 * every error path, and the documented C and Python examples (docs/integrating.md) are built and run.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpuInfo, HEAD_CATEGORIES, Layout, MaskPlan, type HeadCategory } from '../../dist/index.js';
import { mulberry32, randomSegments, refAttention, refLayout, relL2, type RefOptions, type Segment } from '../oracle/reference.js';
import { randomQkv } from '../helpers/tensors.js';
import { buildLibblindsight, cc, compileC, crossTriple, cxx, repoRoot, run, which } from '../helpers/toolchain.js';

const TOL = 1e-5;
const missing = ['cmake', cc].filter((t) => !which(t));
if (missing.length > 0) console.warn(`SKIPPING the C ABI tests: ${missing.join(' and ')} not found on PATH`);
// Under emulation the host's python3 cannot load a library of the emulated architecture.
const python = crossTriple ? undefined : which('python3');
if (!python) console.warn(`SKIPPING the Python ctypes example: ${crossTriple ? `libblindsight is built for ${crossTriple}` : 'python3 not found on PATH'}`);

interface Problem {
  seed: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  options: RefOptions;
  globalSinks?: number;
  blockM?: number;
  blockN?: number;
  threads?: number;
  isa?: string;
}

function int32(values: ArrayLike<number>): Buffer {
  return Buffer.from(Int32Array.from(values).buffer);
}

/** Writes a problem in capi_check's INPUT format, runs it, and reads back the plan stats, out and lse. */
function runDriver(driver: string, dir: string, p: Problem, segs: Segment[][], heads: HeadCategory[]) {
  const layout = Layout.fromSegments(segs, { globalSinks: p.globalSinks ?? 1 });
  const { q, k, v } = randomQkv(p.seed + 1, layout.numTokens, p.numHeads, p.numKvHeads, p.headDim);
  const header = [
    layout.numSequences, layout.numTokens, segs.flat().length, p.globalSinks ?? 1, p.numHeads, p.numKvHeads, p.headDim,
    Number(p.options.textKeys), Number(p.options.bidirectionalImages), p.options.window ?? 0, p.blockM ?? 64, p.blockN ?? 64, p.threads ?? 0,
  ];
  const input = Buffer.concat([
    int32(header),
    Buffer.from(Float32Array.of(0).buffer), // scale 0: 1/sqrt(headDim)
    int32(layout.cuSeqlens),
    int32(layout.imageIds),
    int32(layout.sinkFlags),
    int32(segs.map((s) => s.length)),
    int32(segs.flat().flatMap((s) => [s.kind === 'image' ? 1 : 0, s.length])),
    int32(heads.map((h) => HEAD_CATEGORIES.indexOf(h))),
    Buffer.from(q.buffer),
    Buffer.from(k.buffer),
    Buffer.from(v.buffer),
  ]);
  const inPath = path.join(dir, `in-${p.seed}.bin`);
  const outPath = path.join(dir, `out-${p.seed}.bin`);
  writeFileSync(inPath, input);
  run(driver, ['run', inPath, outPath, ...(p.isa ? [p.isa] : [])]);
  const bytes = readFileSync(outPath);
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const stats = new BigInt64Array(ab, 0, 27);
  const n = layout.numTokens * p.numHeads;
  const out = new Float32Array(ab, 27 * 8, n * p.headDim);
  const lse = new Float32Array(ab, 27 * 8 + 4 * n * p.headDim, n);
  return { layout, q, k, v, stats: Array.from(stats, Number), out, lse };
}

describe.skipIf(missing.length > 0)('C ABI: libblindsight from C', () => {
  let driver: string;
  let dir: string;
  beforeAll(() => {
    buildLibblindsight();
    driver = compileC('test/e2e/capi/capi_check.c', 'capi_check');
    dir = mkdtempSync(path.join(tmpdir(), 'blindsight-capi-'));
  }, 600_000);
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('the header is plain C99 and also compiles as C++', () => {
    const header = path.join(repoRoot, 'native/include/blindsight.h');
    run(cc, ['-std=c99', '-Wall', '-Wextra', '-Werror', '-pedantic', '-fsyntax-only', '-x', 'c', header]);
    if (which(cxx)) run(cxx, ['-std=c++11', '-Wall', '-Wextra', '-Werror', '-pedantic', '-fsyntax-only', '-x', 'c++', header]);
  });

  it('reports every bad call with a status and per-thread text, never a crash; concurrent calls share a plan', () => {
    expect(run(driver, ['contract']).trim()).toMatch(/^ok \d+ checks$/);
  });

  const isas = cpuInfo().isas;
  const problems: Problem[] = [
    { seed: 1, numHeads: 4, numKvHeads: 2, headDim: 64, options: { textKeys: true, bidirectionalImages: false, window: null } },
    { seed: 2, numHeads: 8, numKvHeads: 2, headDim: 32, options: { textKeys: false, bidirectionalImages: false, window: null }, blockM: 16, blockN: 32 },
    { seed: 3, numHeads: 4, numKvHeads: 4, headDim: 128, options: { textKeys: true, bidirectionalImages: true, window: null }, globalSinks: 3 },
    { seed: 4, numHeads: 6, numKvHeads: 1, headDim: 80, options: { textKeys: false, bidirectionalImages: true, window: 37 }, threads: 1 },
    { seed: 5, numHeads: 4, numKvHeads: 2, headDim: 16, options: { textKeys: true, bidirectionalImages: false, window: 70 }, globalSinks: 0, blockM: 8, blockN: 8 },
    ...isas.map((isa, i) => ({ seed: 10 + i, numHeads: 4, numKvHeads: 1, headDim: 64, options: { textKeys: true, bidirectionalImages: false, window: 50 }, isa })),
  ];

  it.each(problems)('attention and plan stats match the reference (seed $seed, $numHeads/$numKvHeads heads, dim $headDim, isa $isa)', (p) => {
    const segs = randomSegments(mulberry32(p.seed), { maxTokens: 300, maxImageLen: 180 });
    const heads = Array.from({ length: p.numHeads }, (_, h) => HEAD_CATEGORIES[(h + p.seed) % 4]);
    const r = runDriver(driver, dir, p, segs, heads);
    const ref = refAttention({ q: r.q, k: r.k, v: r.v, layout: refLayout(segs, p.globalSinks ?? 1), heads, numHeads: p.numHeads, numKvHeads: p.numKvHeads, headDim: p.headDim, options: p.options });
    expect(r.out.every(Number.isFinite), 'every output element written').toBe(true);
    expect(r.lse.every(Number.isFinite), 'every lse element written').toBe(true);
    expect(relL2(r.out, ref.out)).toBeLessThan(TOL);
    expect(relL2(r.lse, ref.lse)).toBeLessThan(TOL);

    // The C stats are the same numbers the TS MaskPlan reports for the same layout and options.
    const plan = MaskPlan.build(r.layout, { ...p.options, blockM: p.blockM, blockN: p.blockN });
    const ts = plan.stats([...HEAD_CATEGORIES]);
    expect(r.stats.slice(0, 3)).toEqual([ts.denseCausalPairs / 4, ts.gridBlocks, ts.causalBlocks]);
    HEAD_CATEGORIES.forEach((_, c) => {
      const cs = ts.perCategory[c];
      expect(r.stats.slice(3 + 6 * c, 9 + 6 * c)).toEqual([cs.visiblePairs, cs.fullBlocks, cs.partialBlocks, cs.skippedBlocks, cs.gatheredKeys, cs.computedPairs]);
    });
  });

  it('the documented C example builds, runs and agrees with the reference', () => {
    const exe = compileC('examples/c/attention.c', 'attention_example');
    const line = run(exe, []).trim();
    const m = /: (\d+) tokens, kept ([\d.]+) of dense attention FLOPs, sum \|out\| = ([\d.e+-]+)$/.exec(line);
    expect(m, line).not.toBeNull();
    const segs: Segment[][] = [[{ kind: 'text', length: 16 }, { kind: 'image', length: 96 }, { kind: 'image', length: 96 }, { kind: 'text', length: 12 }]];
    const layout = Layout.fromSegments(segs);
    const heads: HeadCategory[] = ['dense', 'sink', 'intra-image', 'intra-image+sink'];
    expect(Number(m![1])).toBe(layout.numTokens);
    expect(Number(m![2])).toBeCloseTo(MaskPlan.build(layout).stats(heads).keptRatio, 6);
    // The example's inputs, computed the same way (sin/cos of the flat index, rounded to f32).
    const n = layout.numTokens;
    const q = Float32Array.from({ length: n * 4 * 64 }, (_, i) => Math.sin(0.37 * i));
    const k = Float32Array.from({ length: n * 2 * 64 }, (_, i) => Math.cos(0.11 * i));
    const v = Float32Array.from({ length: n * 2 * 64 }, (_, i) => Math.sin(0.05 * i + 1));
    const ref = refAttention({ q, k, v, layout: refLayout(segs), heads, numHeads: 4, numKvHeads: 2, headDim: 64, options: { textKeys: true, bidirectionalImages: false, window: null } });
    const sum = ref.out.reduce((a, x) => a + Math.abs(x), 0);
    expect(Math.abs(Number(m![3]) - sum) / sum).toBeLessThan(1e-5);
  });
});

describe.skipIf(missing.length > 0 || !python)('C ABI: the Python ctypes example', () => {
  beforeAll(() => buildLibblindsight(), 600_000);

  it('runs a two-layer hook on its own buffers (whole, in micro-batches, as a ring step) and matches its float64 reference and the TS plan stats', () => {
    const report = JSON.parse(run(python!, [path.join(repoRoot, 'examples/python/blindsight_ctypes.py')]).trim().split('\n').pop()!);
    const segs: Segment[][] = [
      [{ kind: 'text', length: 6 }, { kind: 'image', length: 40 }, { kind: 'text', length: 3 }, { kind: 'image', length: 30 }, { kind: 'text', length: 5 }],
      [{ kind: 'image', length: 17 }, { kind: 'text', length: 4 }],
    ];
    const plan = MaskPlan.build(Layout.fromSegments(segs));
    const policy: HeadCategory[][] = [['dense', 'sink', 'intra-image', 'intra-image+sink'], ['intra-image', 'intra-image', 'sink', 'dense']];
    expect(report.num_tokens).toBe(plan.layout.numTokens);
    expect(report.layers).toHaveLength(2);
    type LayerReport = { kept_ratio: number; max_abs_err: number; max_lse_err: number; all_written: boolean } & Record<string, number>;
    report.layers.forEach((l: LayerReport, i: number) => {
      expect(l.all_written).toBe(true);
      expect(l.max_abs_err).toBeLessThan(1e-5);
      expect(l.max_lse_err).toBeLessThan(1e-5);
      // Micro-batches against a head-major cache read in place, and a two-shard ring step merged by lse.
      expect(l.micro_batch_max_abs_err).toBeLessThan(1e-5);
      expect(l.ring_max_abs_err).toBeLessThan(1e-5);
      expect(l.ring_max_lse_err).toBeLessThan(1e-5);
      expect(l.kept_ratio).toBeCloseTo(plan.stats(policy[i]).keptRatio, 12);
    });
  });
});
