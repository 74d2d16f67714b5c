import { describe, expect, it } from 'vitest';
import {
  attention,
  attentionSync,
  bf16BitsToF32,
  cpuInfo,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  fmaPeak,
  fromDType,
  HEAD_CATEGORIES,
  Layout,
  MaskPlan,
  toDType,
  type CpuIsa,
  type DType,
  type HeadCategory,
} from '../../dist/index.js';
import { mulberry32, randomSegments, refAttention, refLayout, relL2, type RefOptions } from '../oracle/reference.js';
import { randomQkv } from '../helpers/tensors.js';

const isas = cpuInfo().isas as CpuIsa[];

describe('f16 / bf16 conversions', () => {
  it('match the IEEE bit patterns, with round-to-nearest-even', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(-2)).toBe(0xc000);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // rounds up to infinity
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // tie to even (0)
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(0x0002); // tie to even (2)
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie to even
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToF16Bits(Number.NaN) & 0x7c00).toBe(0x7c00);
    expect(f16BitsToF32(0x3555)).toBeCloseTo(0.333251953125, 12);
    expect(f16BitsToF32(0x0001)).toBe(2 ** -24);
    expect(f16BitsToF32(0xfc00)).toBe(-Infinity);
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie to even
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(bf16BitsToF32(0xc040)).toBe(-3);
    expect(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(Number.NaN)))).toBe(true);
  });

  it('round trip every f16 value exactly', () => {
    for (let h = 0; h < 0x10000; h++) {
      const x = f16BitsToF32(h);
      if (Number.isNaN(x)) continue;
      expect(f32ToF16Bits(x)).toBe(h);
    }
  });
});

// Relative L2 tolerance of out against the float64 reference computed on the rounded inputs. Accumulation is f32 on
// every path; the bf16 pair-product kernels (avx512bf16's vdpbf16ps, neonbf16's BFDOT) also round the softmax weights
// P to bf16 (as GPU flash kernels do), and a 16-bit output adds its own rounding (2^-11 for f16, 2^-8 for bf16).
const PAIR_PRODUCT_LEVELS: CpuIsa[] = ['avx512bf16', 'neonbf16'];
function tolerance(isa: CpuIsa, dtype: DType, outDtype: DType): { out: number; lse: number } {
  // (measured: ~7e-4 for bf16 P on avx512bf16, ~2e-4 for f16 output, ~2e-3 for bf16 output)
  let out = dtype === 'bf16' && PAIR_PRODUCT_LEVELS.includes(isa) ? 3e-3 : 1e-5;
  if (outDtype === 'f16') out = Math.max(out, 1e-3);
  if (outDtype === 'bf16') out = Math.max(out, 6e-3);
  return { out, lse: 1e-5 };
}

const OPTIONS: RefOptions[] = [
  { textKeys: true, bidirectionalImages: false, window: null },
  { textKeys: false, bidirectionalImages: true, window: 37 },
  { textKeys: true, bidirectionalImages: false, window: 90 },
];

function runCase(c: { seed: number; isa: CpuIsa; dtype: DType; outDtype: DType; headDim: number; options: RefOptions; numHeads?: number; numKvHeads?: number }) {
  const numHeads = c.numHeads ?? 4;
  const numKvHeads = c.numKvHeads ?? 2;
  const rng = mulberry32(c.seed);
  const segs = randomSegments(rng, { maxTokens: 260, maxImageLen: 160 });
  const L = Layout.fromSegments(segs);
  const plan = MaskPlan.build(L, c.options);
  const heads: HeadCategory[] = Array.from({ length: numHeads }, (_, h) => HEAD_CATEGORIES[(h + c.seed) % 4]);
  const raw = randomQkv(c.seed + 1, L.numTokens, numHeads, numKvHeads, c.headDim);
  const cast = (x: Float32Array) => (c.dtype === 'f32' ? x : toDType(x, c.dtype));
  const q = cast(raw.q), k = cast(raw.k), v = cast(raw.v);
  const widen = (x: Float32Array | Uint16Array, t: DType) => (t === 'f32' ? (x as Float32Array) : fromDType(x as Uint16Array, t));
  const out = c.outDtype === 'f32' ? new Float32Array(raw.q.length).fill(Number.NaN) : new Uint16Array(raw.q.length).fill(0x7e00);
  const lse = new Float32Array(L.numTokens * numHeads).fill(Number.NaN);
  const r = attentionSync({ q, k, v, dtype: c.dtype, outDtype: c.outDtype, out, lse, plan, heads, numHeads, numKvHeads, headDim: c.headDim, isa: c.isa });
  expect(r.out).toBe(out);
  const ref = refAttention({
    q: widen(q, c.dtype), k: widen(k, c.dtype), v: widen(v, c.dtype),
    layout: refLayout(segs), heads, numHeads, numKvHeads, headDim: c.headDim, options: c.options,
  });
  const got = widen(out, c.outDtype);
  expect(got.every(Number.isFinite), 'every output element written').toBe(true);
  const tol = tolerance(c.isa, c.dtype, c.outDtype);
  expect(relL2(got, ref.out)).toBeLessThan(tol.out);
  expect(relL2(lse, ref.lse)).toBeLessThan(tol.lse);
}

describe.each(isas)('16-bit inputs and outputs, ISA %s, against the float64 reference on rounded inputs', (isa) => {
  it.each([
    ['f16', 'f32'],
    ['bf16', 'f32'],
    ['f16', 'f16'],
    ['bf16', 'bf16'],
    ['f32', 'bf16'],
    ['f32', 'f16'],
  ] as [DType, DType][])('%s in, %s out, head dims 64 / 128 / 80, every category and option', (dtype, outDtype) => {
    [64, 128, 80].forEach((headDim, i) =>
      runCase({ seed: 7000 + headDim + i * 13 + dtype.length * 101 + outDtype.length * 7, isa, dtype, outDtype, headDim, options: OPTIONS[i] }),
    );
  });

  it.each([8, 24, 40])('head dim %i (not a whole number of vectors), f32 and bf16', (headDim) => {
    for (const dtype of ['f32', 'bf16'] as DType[])
      runCase({ seed: 8000 + headDim, isa, dtype, outDtype: 'f32', headDim, options: OPTIONS[headDim % 3], numHeads: 6, numKvHeads: 3 });
  });
});

describe('16-bit arguments', () => {
  const L = Layout.fromSegments([{ kind: 'text', length: 4 }, { kind: 'image', length: 5 }]);
  const plan = MaskPlan.build(L);
  const base = { plan, heads: ['dense', 'sink'] as HeadCategory[], numHeads: 2, numKvHeads: 1, headDim: 8 };
  const f = randomQkv(3, 9, 2, 1, 8);
  const h = { q: toDType(f.q, 'bf16'), k: toDType(f.k, 'bf16'), v: toDType(f.v, 'bf16') };

  it('Uint16Array inputs need a 16-bit dtype, and types must agree', () => {
    expect(() => attentionSync({ ...base, ...h })).toThrow(/dtype: 'f16' or 'bf16'/);
    expect(() => attentionSync({ ...base, ...f, dtype: 'bf16' })).toThrow(TypeError);
    expect(() => attentionSync({ ...base, ...h, dtype: 'f8' as DType })).toThrow(TypeError);
    expect(() => attentionSync({ ...base, ...h, dtype: 'bf16', out: new Float32Array(f.q.length), outDtype: 'bf16' })).toThrow(TypeError);
  });

  it('async calls take the same types and give the same result', async () => {
    const a = await attention({ ...base, ...h, dtype: 'bf16', outDtype: 'f16' });
    const b = attentionSync({ ...base, ...h, dtype: 'bf16', outDtype: 'f16' });
    expect(a.out).toBeInstanceOf(Uint16Array);
    expect(Array.from(a.out)).toEqual(Array.from(b.out));
  });
});

describe('fmaPeak', () => {
  it('measures a positive FMA rate on every ISA level', () => {
    for (const isa of isas) expect(fmaPeak({ isa, seconds: 0.02, threads: 1 })).toBeGreaterThan(0);
    expect(() => fmaPeak({ seconds: 0 })).toThrow(RangeError);
    expect(() => fmaPeak({ isa: 'sse9', seconds: 0.01 })).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_ISA' }));
  });
});
