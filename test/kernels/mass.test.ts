import { describe, expect, it } from 'vitest';
import { cpuInfo, Layout, MaskPlan, type CpuIsa } from '../../dist/index.js';
import { attentionMass, attentionMassSync, MASS_BUCKETS, retainedMass } from '../../dist/calibration/index.js';
import { decode, encode } from '../helpers/half.js';
import { refMass } from '../oracle/mass_reference.js';
import { mulberry32, randomNormal, randomSegments, refLayout, refVisible, type RefOptions } from '../oracle/reference.js';

const TOL = 1e-5;
const isas = cpuInfo().isas as CpuIsa[];

const OPTIONS: RefOptions[] = [
  { textKeys: true, bidirectionalImages: false, window: null },
  { textKeys: true, bidirectionalImages: true, window: null },
  { textKeys: true, bidirectionalImages: false, window: 37 },
  { textKeys: false, bidirectionalImages: true, window: 80 },
];

interface Case {
  seed: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  options: RefOptions;
  dtype?: 'f32' | 'f16' | 'bf16';
  globalSinks?: number;
  blockM?: number;
  blockN?: number;
  std?: number;
  isa?: CpuIsa;
  maxTokens?: number;
}

function setup(c: Case) {
  const rng = mulberry32(c.seed);
  const segs = randomSegments(rng, { maxTokens: c.maxTokens ?? 300, maxImageLen: 180 });
  const g = c.globalSinks ?? 1;
  const layout = Layout.fromSegments(segs, { globalSinks: g });
  const plan = MaskPlan.build(layout, { ...c.options, blockM: c.blockM, blockN: c.blockN });
  const n = layout.numTokens;
  const std = c.std ?? 1;
  const q32 = randomNormal(rng, n * c.numHeads * c.headDim, std);
  const k32 = randomNormal(rng, n * c.numKvHeads * c.headDim, std);
  const dtype = c.dtype ?? 'f32';
  const q = dtype === 'f32' ? q32 : encode(q32, dtype);
  const k = dtype === 'f32' ? k32 : encode(k32, dtype);
  // The reference reads exactly the values the native pass reads (after rounding to f16 / bf16).
  const qRef = dtype === 'f32' ? q32 : decode(q as Uint16Array, dtype);
  const kRef = dtype === 'f32' ? k32 : decode(k as Uint16Array, dtype);
  const ref = refMass({ q: qRef, k: kRef, layout: refLayout(segs, g), numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: c.headDim, options: c.options });
  const args = { q, k, dtype, plan, numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: c.headDim, isa: c.isa };
  return { layout, plan, ref, args };
}

function check(c: Case, r: ReturnType<typeof attentionMassSync>, layout: Layout, ref: Float64Array) {
  const per = r.perToken!;
  let maxErr = 0;
  let imageQueries = 0;
  const sums = new Float64Array(c.numHeads * 7);
  for (let t = 0; t < layout.numTokens; t++) {
    const isImage = layout.imageIds[t]! >= 0;
    if (isImage) imageQueries++;
    for (let h = 0; h < c.numHeads; h++) {
      let rowSum = 0;
      for (let b = 0; b < 7; b++) {
        const i = (t * c.numHeads + h) * 7 + b;
        if (!isImage) {
          expect(Number.isNaN(per[i]), `text row ${t} is NaN`).toBe(true);
          continue;
        }
        expect(Number.isFinite(per[i]), `row ${t} head ${h} bucket ${b} written`).toBe(true);
        maxErr = Math.max(maxErr, Math.abs(per[i]! - ref[i]!));
        rowSum += per[i]!;
        sums[h * 7 + b]! += ref[i]!;
      }
      if (isImage) expect(Math.abs(rowSum - 1)).toBeLessThan(1e-5);
    }
  }
  expect(maxErr).toBeLessThan(TOL);
  expect(r.imageQueries).toBe(imageQueries);
  for (let i = 0; i < sums.length; i++) expect(Math.abs(r.sum[i]! - sums[i]!)).toBeLessThan(TOL * Math.max(1, imageQueries));
}

function runCase(c: Case) {
  const { layout, ref, args } = setup(c);
  const perToken = new Float32Array(layout.numTokens * c.numHeads * 7).fill(-7); // poisoned
  const r = attentionMassSync({ ...args, perToken });
  expect(r.perToken).toBe(perToken);
  check(c, r, layout, ref);
}

describe.each(isas)('attention-mass pass, ISA %s, against the float64 reference', (isa) => {
  it.each([16, 64, 100, 128])('head dim %i, every mask option', (headDim) => {
    OPTIONS.forEach((options, i) => runCase({ seed: headDim * 13 + i, numHeads: 4, numKvHeads: 2, headDim, options, isa, maxTokens: headDim >= 100 ? 220 : 300 }));
  });

  it.each([
    [6, 1],
    [6, 3],
    [5, 5],
  ])('GQA %i query heads over %i KV heads', (numHeads, numKvHeads) => {
    runCase({ seed: 700 + numHeads * 3 + numKvHeads, numHeads, numKvHeads, headDim: 32, options: OPTIONS[numHeads % 4]!, isa });
  });

  it.each(['f16', 'bf16'] as const)('%s inputs', (dtype) => {
    runCase({ seed: dtype === 'f16' ? 901 : 902, numHeads: 4, numKvHeads: 2, headDim: 64, options: OPTIONS[1]!, dtype, isa });
  });
});

describe('attention-mass pass: layouts, blocks and numerics', () => {
  it.each([0, 1, 3])('globalSinks %i', (globalSinks) => {
    runCase({ seed: 1100 + globalSinks, numHeads: 3, numKvHeads: 1, headDim: 24, options: OPTIONS[globalSinks % 4]!, globalSinks });
  });

  it.each([
    [8, 8],
    [16, 32],
    [128, 64],
  ])('block sizes %i x %i', (blockM, blockN) => {
    runCase({ seed: 1200 + blockM + blockN, numHeads: 2, numKvHeads: 1, headDim: 32, options: OPTIONS[2]!, blockM, blockN });
  });

  it('wide score ranges (online rescaling across tiles)', () => {
    runCase({ seed: 1301, numHeads: 4, numKvHeads: 2, headDim: 32, options: OPTIONS[0]!, std: 2.5, maxTokens: 400 });
  });

  it('async gives the same result as sync; thread count does not change the sums', async () => {
    const c: Case = { seed: 1401, numHeads: 4, numKvHeads: 4, headDim: 48, options: OPTIONS[3]! };
    const { layout, ref, args } = setup(c);
    const r = await attentionMass({ ...args, perToken: true });
    check(c, r, layout, ref);
    const one = attentionMassSync({ ...args, threads: 1 });
    expect(one.perToken).toBeUndefined();
    expect(Array.from(one.sum)).toEqual(Array.from(r.sum));
    expect(Array.from(one.mean)).toEqual(Array.from(r.sum).map((s) => s / r.imageQueries));
  });

  it('a layout without images measures nothing', () => {
    const layout = Layout.fromSegments([{ kind: 'text', length: 50 }]);
    const plan = MaskPlan.build(layout);
    const r = attentionMassSync({ q: new Float32Array(50 * 2 * 8), k: new Float32Array(50 * 8), plan, numHeads: 2, numKvHeads: 1, headDim: 8, perToken: true });
    expect(r.imageQueries).toBe(0);
    expect(Array.from(r.mean)).toEqual(new Array(14).fill(0));
    expect(r.perToken!.every(Number.isNaN)).toBe(true);
  });
});

describe('retained mass per category', () => {
  it('equals the mass the category mask keeps, computed pair by pair', () => {
    // Brute force: for each image query, the retained mass is the sum of p over keys that the category's element rule
    // keeps. retainedMass() gets it from the seven buckets alone.
    const rng = mulberry32(77);
    for (const options of OPTIONS) {
      const segs = randomSegments(rng, { maxTokens: 200, maxImageLen: 90 });
      const L = refLayout(segs, 2);
      const numHeads = 2, headDim = 8;
      const q = randomNormal(rng, L.numTokens * numHeads * headDim);
      const k = randomNormal(rng, L.numTokens * numHeads * headDim);
      const frac = refMass({ q, k, layout: L, numHeads, numKvHeads: numHeads, headDim, options });
      for (let t = 0; t < L.numTokens; t++) {
        if (L.imageIds[t]! < 0) continue;
        for (let h = 0; h < numHeads; h++) {
          const s = L.seqOf[t]!;
          const ps: [number, number][] = [];
          let max = -Infinity;
          for (let kk = L.cuSeqlens[s]!; kk < L.cuSeqlens[s + 1]!; kk++) {
            if (!refVisible(L, t, kk, 'dense', options)) continue;
            let dot = 0;
            for (let d = 0; d < headDim; d++) dot += q[(t * numHeads + h) * headDim + d]! * k[(kk * numHeads + h) * headDim + d]!;
            ps.push([kk, dot / Math.sqrt(headDim)]);
            max = Math.max(max, dot / Math.sqrt(headDim));
          }
          const total = ps.reduce((a, [, sc]) => a + Math.exp(sc - max), 0);
          for (const cat of ['dense', 'sink', 'intra-image', 'intra-image+sink'] as const) {
            const kept = ps.filter(([kk]) => refVisible(L, t, kk, cat, options)).reduce((a, [, sc]) => a + Math.exp(sc - max), 0) / total;
            expect(retainedMass(frac, cat, options.textKeys, (t * numHeads + h) * 7)).toBeCloseTo(kept, 12);
          }
        }
      }
    }
  });

  it('names the buckets in native order', () => {
    expect(MASS_BUCKETS).toEqual(['self', 'ownSink', 'ownOther', 'textSink', 'text', 'imageSink', 'otherImage']);
  });
});

describe.each(isas)('attention-mass pass, ISA %s: non-finite inputs follow the attention kernel', (isa) => {
  // A NaN q row, and k elements of +inf and -inf: a row whose softmax the float64 reference makes NaN (a NaN or +inf
  // score) has no fractions and is left out of its head's sums; a -inf score weighs nothing; other rows are untouched.
  it.each(['f32', 'bf16'] as const)('%s', (dtype) => {
    const rng = mulberry32(dtype === 'f32' ? 41 : 42);
    const segs = [[{ kind: 'text' as const, length: 20 }, { kind: 'image' as const, length: 90 }, { kind: 'text' as const, length: 7 }, { kind: 'image' as const, length: 70 }]];
    const layout = Layout.fromSegments(segs);
    const plan = MaskPlan.build(layout);
    const n = layout.numTokens, H = 4, KV = 2, D = 32;
    const q32 = randomNormal(rng, n * H * D), k32 = randomNormal(rng, n * KV * D);
    q32.fill(Number.NaN, (30 * H + 1) * D, (30 * H + 2) * D);
    k32[(40 * KV + 0) * D + 3] = Infinity;
    k32[(150 * KV + 1) * D + 5] = -Infinity;
    const q = dtype === 'f32' ? q32 : encode(q32, dtype), k = dtype === 'f32' ? k32 : encode(k32, dtype);
    const qRef = dtype === 'f32' ? q32 : decode(q as Uint16Array, dtype), kRef = dtype === 'f32' ? k32 : decode(k as Uint16Array, dtype);
    const ref = refMass({ q: qRef, k: kRef, layout: refLayout(segs), numHeads: H, numKvHeads: KV, headDim: D, options: OPTIONS[0]! });
    const r = attentionMassSync({ q, k, dtype, plan, numHeads: H, numKvHeads: KV, headDim: D, isa, perToken: true });
    const rows = new Array<number>(H).fill(0), sums = new Float64Array(H * 7);
    let undefinedRows = 0, maxErr = 0;
    for (let t = 0; t < n; t++) {
      if (layout.imageIds[t]! < 0) continue;
      for (let h = 0; h < H; h++) {
        const at = (t * H + h) * 7;
        const nan = Number.isNaN(ref[at]!);
        for (let b = 0; b < 7; b++) expect(Number.isNaN(r.perToken![at + b]!), `row ${t} head ${h}: NaN as the reference`).toBe(nan);
        if (nan) {
          undefinedRows++;
          continue;
        }
        rows[h]!++;
        for (let b = 0; b < 7; b++) {
          maxErr = Math.max(maxErr, Math.abs(r.perToken![at + b]! - ref[at + b]!));
          sums[h * 7 + b]! += ref[at + b]!;
        }
      }
    }
    // Every planted value reaches rows (and not all of them): the NaN q row, the rows that see key 40 or key 150.
    expect(undefinedRows).toBeGreaterThan(1);
    expect(rows.every((x) => x > 0)).toBe(true);
    expect(maxErr).toBeLessThan(TOL);
    expect(Array.from(r.rows)).toEqual(rows);
    for (let i = 0; i < sums.length; i++) expect(Math.abs(r.sum[i]! - sums[i]!)).toBeLessThan(TOL * rows[Math.floor(i / 7)]!);
    for (let i = 0; i < r.mean.length; i++) expect(Number.isFinite(r.mean[i]!)).toBe(true);
  });
});

describe('attention-mass pass: head dims the attention kernel does not take', () => {
  it.each([[3, 1], [100, 2], [600, 1]])('head dim %i (%i KV heads), zero-padded', (headDim, numKvHeads) => {
    runCase({ seed: 1500 + headDim, numHeads: 2, numKvHeads, headDim, options: OPTIONS[1]!, maxTokens: 160 });
  });
});
