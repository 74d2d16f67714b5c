/**
 * Non-finite inputs and extreme but finite ones, on every ISA level and element type, against the float64 reference
 * (whose IEEE arithmetic defines the behaviour: a NaN or infinity reaches exactly the rows that see it, and masked
 * pairs contribute nothing, not 0 * NaN). Also the score scale's edges. The CUDA kernels run the same cases under the
 * CTA emulator when the CUDA module is built (their device code on the CPU), and on the GPU when there is one.
 */
import { describe, expect, it } from 'vitest';
import { attentionSync, cpuInfo, HEAD_CATEGORIES, Layout, listBackends, MaskPlan, toDType, fromDType, type CpuIsa, type DType, type HeadCategory } from '../../dist/index.js';
import { cudaModule } from '../../dist/backends/cuda.js';
import { cudaEmulateRaw } from '../../dist/backends/cuda_calls.js';
import { mulberry32, refAttention, refLayout, type RefOptions, type Segment } from '../oracle/reference.js';
import { poisoned, randomQkv } from '../helpers/tensors.js';

// Where the cases run: every CPU level, the CUDA kernels under the CTA emulator, and the GPU.
type Engine = CpuIsa | 'cuda-emulator' | 'cuda';
const engines: Engine[] = [
  ...(cpuInfo().isas as CpuIsa[]),
  ...(cudaModule().addon?.emulate ? (['cuda-emulator'] as const) : []),
  ...(listBackends().some((b) => b.name === 'cuda' && b.available) ? (['cuda'] as const) : []),
];
const OPTIONS: RefOptions = { textKeys: true, bidirectionalImages: false, window: null };
const SEGS: Segment[][] = [[{ kind: 'text', length: 20 }, { kind: 'image', length: 90 }, { kind: 'text', length: 7 }, { kind: 'image', length: 70 }, { kind: 'text', length: 13 }]];
const H = 4, KV = 2, D = 64;
const TOL: Record<DType, number> = { f32: 1e-5, f16: 2e-3, bf16: 1e-2 };

/** Element-wise: the same NaNs and the same infinities as the reference, and a small relative L2 error elsewhere. */
function expectLikeReference(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string) {
  let diff = 0, ref = 0;
  const mismatches: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = Number.isFinite(expected[i]!) ? Math.fround(expected[i]!) : expected[i]!; // beyond f32: +-inf
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      if (!Object.is(a, e) && !(Number.isNaN(a) && Number.isNaN(e))) mismatches.push(`[${i}] ${a} vs ${e}`);
      continue;
    }
    if (!Number.isFinite(a)) {
      mismatches.push(`[${i}] ${a} vs ${e}`);
      continue;
    }
    diff += (a - e) ** 2;
    ref += e * e;
  }
  expect(mismatches.slice(0, 5), `${what}: non-finite pattern (${mismatches.length} mismatches)`).toEqual([]);
  expect(Math.sqrt(diff / Math.max(ref, 1e-300)), `${what}: relative L2 on the finite elements`).toBeLessThan(tol);
}

interface Case {
  heads: HeadCategory[];
  dtype: DType;
  isa: Engine;
  scale?: number;
  mutate: (t: { q: Float32Array; k: Float32Array; v: Float32Array }) => void;
  seed: number;
}

function run(c: Case) {
  const L = Layout.fromSegments(SEGS);
  const plan = MaskPlan.build(L, OPTIONS);
  const t = randomQkv(c.seed, L.numTokens, H, KV, D);
  c.mutate(t);
  // The reference sees exactly the values the kernel reads (16-bit inputs rounded first).
  const round = (x: Float32Array) => (c.dtype === 'f32' ? x : fromDType(toDType(x, c.dtype), c.dtype));
  const [q, k, v] = [round(t.q), round(t.k), round(t.v)];
  const ref = refAttention({ q, k, v, layout: refLayout(SEGS), heads: c.heads, numHeads: H, numKvHeads: KV, headDim: D, scale: c.scale, options: OPTIONS });
  const out = poisoned(q.length), lse = poisoned(L.numTokens * H);
  const input = (x: Float32Array) => (c.dtype === 'f32' ? x : toDType(x, c.dtype));
  const shape = { plan, heads: c.heads, numHeads: H, numKvHeads: KV, headDim: D, scale: c.scale };
  if (c.isa === 'cuda-emulator') cudaEmulateRaw({ ...shape, q: input(t.q), k: input(t.k), v: input(t.v), inputType: c.dtype, out, outputType: 'f32', lse });
  else if (c.isa === 'cuda') attentionSync({ ...shape, q: input(t.q), k: input(t.k), v: input(t.v), dtype: c.dtype, out, lse, backend: 'cuda' });
  else attentionSync({ ...shape, q: input(t.q), k: input(t.k), v: input(t.v), dtype: c.dtype, out, lse, isa: c.isa });
  expectLikeReference(out, ref.out, TOL[c.dtype], `out (${c.isa}, ${c.dtype})`);
  expectLikeReference(lse, ref.lse, 1e-4, `lse (${c.isa}, ${c.dtype})`);
  return { out, ref };
}

const DTYPES: DType[] = ['f32', 'f16', 'bf16'];
const mixed = (): HeadCategory[] => [...HEAD_CATEGORIES];
const setRow = (x: Float32Array, token: number, heads: number, head: number, value: number, dims = [0, 5]) => {
  for (const d of dims) x[(token * heads + head) * D + d] = value;
};

describe.each(engines)('%s', (isa) => {
  it.each(DTYPES)('%s: a negative scale', (dtype) => {
    for (const scale of [-0.125, -1]) run({ heads: mixed(), dtype, isa, scale, seed: 11, mutate: () => {} });
  });

  it.each(DTYPES)('%s: a NaN in a v row reaches only the rows that see its key', (dtype) => {
    // Token 15 is text before the first image: every dense row after it sees it, no row before it does; token 40 is
    // inside the first image, hidden from the second image's rows under every sparse category.
    for (const token of [15, 40, 130]) {
      const { out, ref } = run({ heads: mixed(), dtype, isa, seed: 12 + token, mutate: (t) => setRow(t.v, token, KV, 1, Number.NaN) });
      // Rows before the token (causal) are finite.
      for (let i = 0; i < token * H * D; i++) expect(Number.isFinite(out[i]), `row ${Math.floor(i / (H * D))} leaked`).toBe(true);
      expect(ref.out.some(Number.isNaN)).toBe(true);
    }
  });

  it.each(DTYPES)('%s: infinities in v rows', (dtype) => {
    run({ heads: mixed(), dtype, isa, seed: 21, mutate: (t) => { setRow(t.v, 33, KV, 0, Infinity); setRow(t.v, 150, KV, 1, -Infinity, [3]); } });
  });

  it.each(DTYPES)('%s: NaN, +inf and -inf in k rows', (dtype) => {
    run({ heads: mixed(), dtype, isa, seed: 22, mutate: (t) => setRow(t.k, 50, KV, 0, Number.NaN) });
    // With every q element positive, an infinite k element gives an infinite score of the same sign.
    const positiveQ = (t: { q: Float32Array }) => t.q.forEach((x, i) => (t.q[i] = Math.abs(x) + 0.01));
    run({ heads: mixed(), dtype, isa, seed: 23, mutate: (t) => { positiveQ(t); setRow(t.k, 60, KV, 1, Infinity, [2]); } });
    run({ heads: mixed(), dtype, isa, seed: 24, mutate: (t) => { positiveQ(t); setRow(t.k, 60, KV, 1, -Infinity, [2]); setRow(t.v, 60, KV, 1, Number.NaN, [4]); } });
  });

  it.each(DTYPES)('%s: a non-finite q row makes only its own row NaN', (dtype) => {
    run({ heads: mixed(), dtype, isa, seed: 25, mutate: (t) => { setRow(t.q, 44, H, 2, Number.NaN); setRow(t.q, 100, H, 1, Infinity); setRow(t.q, 3, H, 0, -Infinity); } });
  });

  it('finite inputs whose scores overflow f32: every key at -3e38', () => {
    run({ heads: mixed(), dtype: 'f32', isa, seed: 26, mutate: (t) => { t.q.forEach((_, i) => (t.q[i] = 0.5)); t.k.fill(-3e38); } });
  });

  it('a scale near the f32 maximum', () => {
    run({ heads: mixed(), dtype: 'f32', isa, scale: 3e38, seed: 27, mutate: () => {} });
    run({ heads: mixed(), dtype: 'f32', isa, scale: -3e38, seed: 28, mutate: () => {} });
  });
});

describe('the score scale', () => {
  const L = Layout.fromSegments(SEGS);
  const plan = MaskPlan.build(L);
  const t = randomQkv(5, L.numTokens, H, KV, D);
  const call = (scale: number | undefined) => attentionSync({ ...t, plan, heads: mixed(), numHeads: H, numKvHeads: KV, headDim: D, scale }).out;

  it('0 means 1/sqrt(headDim), as in the C ABI', () => {
    expect(call(0)).toEqual(call(undefined));
    expect(call(0)).toEqual(call(Math.fround(1 / Math.sqrt(D))));
  });

  it('must be finite in f32 (a larger double is a RangeError, not an infinity)', () => {
    for (const scale of [1e39, -1e39, Number.MAX_VALUE, Number.NaN, Infinity])
      expect(() => call(scale), String(scale)).toThrow(expect.objectContaining({ name: 'RangeError', code: 'BAD_ARGUMENT' }));
  });
});

describe('random positions of non-finite values', () => {
  it.each(engines)('%s: matches the reference for 20 random poisonings', (isa) => {
    const rng = mulberry32(99);
    for (let i = 0; i < 20; i++) {
      const dtype = DTYPES[i % 3]!;
      const values = [Number.NaN, Infinity, -Infinity];
      run({
        heads: Array.from({ length: H }, () => HEAD_CATEGORIES[(rng() * 4) | 0]!), dtype, isa, seed: 1000 + i,
        mutate: (t) => {
          const which = [t.q, t.k, t.v][(rng() * 3) | 0]!;
          which[(rng() * which.length) | 0] = values[(rng() * 3) | 0]!;
        },
      });
    }
  });
});

describe('subnormals', () => {
  it('the kernels flush subnormals, and the calling thread gets its IEEE mode back', () => {
    const L = Layout.fromSegments(SEGS);
    const plan = MaskPlan.build(L);
    const t = randomQkv(31, L.numTokens, H, KV, D);
    const tiny = t.v.map((x) => x * 1e-39); // subnormal in f32
    const { out } = attentionSync({ q: t.q, k: t.k, v: tiny, plan, heads: mixed(), numHeads: H, numKvHeads: KV, headDim: D });
    expect(out.every((x) => Number.isFinite(x) && Math.abs(x) < 1e-30)).toBe(true);
    // Subnormal doubles still work in JS after the call (a flush-to-zero mode left behind would make this 0).
    const two = Number(String(2));
    expect(Number.MIN_VALUE * two).toBe(1e-323);
  });
});
