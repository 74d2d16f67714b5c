// Calls over query and key ranges (chunked prefill against a cache, KV shards merged by their lse) and strided tensors,
// against the float64 reference of the whole prompt, on every ISA level.
import { describe, expect, it } from 'vitest';
import {
  attention, attentionSync, cpuInfo, HEAD_CATEGORIES, KvPack, Layout, MaskPlan, mergeAttention,
  type CpuIsa, type DType, type HeadCategory, type TokenRange,
} from '../../dist/index.js';
import { mulberry32, randomSegments, refAttention, refLayout, relL2, type RefOptions } from '../oracle/reference.js';
import { encode, decode } from '../helpers/half.js';
import { poisoned, randomQkv } from '../helpers/tensors.js';

const TOL = 1e-5;
// The avx512bf16 kernel rounds the softmax weights to bf16 for its bf16 pair products (test/kernels/dtype.test.ts).
const tolerance = (isa: CpuIsa, dtype: DType) => (dtype === 'bf16' && isa === 'avx512bf16' ? 3e-3 : TOL);
const isas = cpuInfo().isas as CpuIsa[];

const OPTIONS: RefOptions[] = [
  { textKeys: true, bidirectionalImages: false, window: null },
  { textKeys: false, bidirectionalImages: true, window: null },
  { textKeys: true, bidirectionalImages: false, window: 45 },
  { textKeys: true, bidirectionalImages: true, window: 37, windowKeepsSinks: false },
  { textKeys: false, bidirectionalImages: false, window: 90, windowKeepsSinks: false },
];

interface Setup {
  seed: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  options: RefOptions;
  dtype?: DType;
  blockM?: number;
}

function setup(c: Setup) {
  const rng = mulberry32(c.seed);
  const segs = randomSegments(rng, { maxSeqs: 3, maxTokens: 360, maxImageLen: 170 });
  const L = Layout.fromSegments(segs);
  const plan = MaskPlan.build(L, { ...c.options, blockM: c.blockM });
  const heads: HeadCategory[] = Array.from({ length: c.numHeads }, (_, h) => HEAD_CATEGORIES[(h + c.seed) % 4]);
  const f = randomQkv(c.seed + 1, L.numTokens, c.numHeads, c.numKvHeads, c.headDim);
  const dtype = c.dtype ?? 'f32';
  // 16-bit inputs: the reference sees the rounded values.
  const enc = (x: Float32Array) => (dtype === 'f32' ? x : encode(x, dtype));
  const dec = (x: Float32Array | Uint16Array) => (dtype === 'f32' ? x : decode(x as Uint16Array, dtype));
  const q = enc(f.q), k = enc(f.k), v = enc(f.v);
  const layout = refLayout(segs);
  const ref = (keyRanges?: Int32Array) =>
    refAttention({ q: dec(q), k: dec(k), v: dec(v), layout, heads, numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: c.headDim, options: c.options, keyRanges });
  return { rng, L, plan, heads, q, k, v, dtype, ref, base: { plan, heads, numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: c.headDim, dtype } };
}

/** Random cut points inside [lo, hi]: inside images, inside blocks, at the ends. */
function cuts(rng: () => number, lo: number, hi: number, max: number): number[] {
  const n = 1 + Math.floor(rng() * max);
  const xs = new Set([lo, hi]);
  for (let i = 0; i < n; i++) xs.add(lo + Math.floor(rng() * (hi - lo + 1)));
  return [...xs].sort((a, b) => a - b);
}

// The rows of `ranges` (token ranges) of a [tokens, width] array, one range after another.
function gather<T extends Float32Array | Uint16Array>(x: T, ranges: TokenRange[], width: number): T {
  const parts = ranges.map(([b, e]) => x.subarray(b * width, e * width));
  const out = new (x.constructor as new (n: number) => T)(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}

// Rows [b, e) of a [tokens, heads, dim] or [tokens, heads] array.
const rows = (x: ArrayLike<number>, b: number, e: number, width: number) => Array.prototype.slice.call(x, b * width, e * width) as number[];

// The micro-batches of a batch of prompts prefilled together: each sequence cut at random points, call j holding
// every sequence's j-th chunk against its cache so far (every key of the sequence with bidirectional images, which
// may look ahead).
function microBatches(rng: () => number, L: Layout, options: RefOptions): { queries: TokenRange[]; keys: TokenRange[] }[] {
  const seqCuts = Array.from({ length: L.numSequences }, (_, q) => cuts(rng, L.cuSeqlens[q], L.cuSeqlens[q + 1], 4));
  const steps = Math.max(...seqCuts.map((c) => c.length - 1));
  return Array.from({ length: steps }, (_, step) => {
    const queries: TokenRange[] = [], keys: TokenRange[] = [];
    for (let q = 0; q < L.numSequences; q++) {
      const c = seqCuts[q], s0 = L.cuSeqlens[q], s1 = L.cuSeqlens[q + 1];
      const [b, e] = step + 1 < c.length ? [c[step], c[step + 1]] : [s1, s1];
      queries.push([b, e]);
      keys.push([s0, options.bidirectionalImages ? s1 : e]);
    }
    return { queries, keys };
  });
}

describe.each(isas)('ranges on ISA %s', (isa) => {
  it.each(OPTIONS.map((o, i) => [i, o] as const))('chunked prefill equals the whole prompt, options %i', (i, options) => {
    for (const [dtype, headDim, numHeads, numKvHeads] of [['f32', 64, 6, 2], ['bf16', 80, 4, 4], ['f16', 128, 4, 1]] as const) {
      const s = setup({ seed: 100 + i * 10 + headDim, numHeads, numKvHeads, headDim, options, dtype, blockM: i === 2 ? 32 : undefined });
      const whole = s.ref();
      const H = numHeads, KV = numKvHeads, D = headDim;
      for (const { queries, keys } of microBatches(s.rng, s.L, options)) {
        const qRows = queries.reduce((a, [b, e]) => a + e - b, 0);
        const out = poisoned(qRows * H * D), lse = poisoned(qRows * H);
        attentionSync({ ...s.base, isa, q: gather(s.q, queries, H * D), k: gather(s.k, keys, KV * D), v: gather(s.v, keys, KV * D), queries, keys, out, lse });
        const expOut: number[] = [], expLse: number[] = [];
        for (const [b, e] of queries) {
          expOut.push(...rows(whole.out, b, e, H * D));
          expLse.push(...rows(whole.lse, b, e, H));
        }
        expect(out.every(Number.isFinite), 'every row written').toBe(true);
        if (qRows > 0) {
          expect(relL2(out, expOut)).toBeLessThan(tolerance(isa, dtype));
          expect(relL2(lse, expLse)).toBeLessThan(TOL);
        }
      }
    }
  });

  it.each(OPTIONS.map((o, i) => [i, o] as const))('KV shards merged by lse equal the whole prompt, options %i', (i, options) => {
    let emptyRows = 0;
    for (const [numHeads, numKvHeads, headDim] of [[4, 2, 64], [8, 1, 96]] as const) {
      const s = setup({ seed: 300 + i * 10 + headDim, numHeads, numKvHeads, headDim, options });
      const { L, rng } = s;
      const H = numHeads, KV = numKvHeads, D = headDim;
      const whole = s.ref();
      // Shard boundaries per sequence; shard j of every sequence goes into call j.
      const seqCuts = Array.from({ length: L.numSequences }, (_, q) => cuts(rng, L.cuSeqlens[q], L.cuSeqlens[q + 1], 5));
      const shards = Math.max(...seqCuts.map((c) => c.length - 1));
      const partials = [];
      for (let j = 0; j < shards; j++) {
        const keys: TokenRange[] = seqCuts.map((c, q) => (j + 1 < c.length ? [c[j], c[j + 1]] : [L.cuSeqlens[q + 1], L.cuSeqlens[q + 1]]));
        const kRows = keys.reduce((a, [b, e]) => a + e - b, 0);
        const k = new Float32Array(kRows * KV * D), v = new Float32Array(kRows * KV * D);
        let at = 0;
        for (const [b, e] of keys) {
          k.set((s.k as Float32Array).subarray(b * KV * D, e * KV * D), at);
          v.set((s.v as Float32Array).subarray(b * KV * D, e * KV * D), at);
          at += (e - b) * KV * D;
        }
        const out = poisoned(L.numTokens * H * D), lse = poisoned(L.numTokens * H);
        attentionSync({ ...s.base, isa, q: s.q, k, v, keys, out, lse });
        // Each partial against the reference restricted to the shard's keys (rows seeing nothing: out 0, lse -inf).
        const partRef = s.ref(Int32Array.from(keys.flat()));
        expect(out.every(Number.isFinite)).toBe(true);
        expect(relL2(out, partRef.out)).toBeLessThan(TOL);
        for (let r = 0; r < lse.length; r++) {
          if (partRef.lse[r] === -Infinity) {
            expect(lse[r]).toBe(-Infinity);
            emptyRows++;
          } else {
            expect(Math.abs(lse[r] - partRef.lse[r])).toBeLessThan(1e-4 * Math.max(1, Math.abs(partRef.lse[r])));
          }
        }
        partials.push({ out, lse });
      }
      const m = mergeAttention({ partials, numHeads: H, headDim: D, returnLse: true });
      expect(relL2(m.out, whole.out)).toBeLessThan(TOL);
      expect(relL2(m.lse!, whole.lse)).toBeLessThan(TOL);
    }
    expect(emptyRows, 'some rows see nothing of some shard').toBeGreaterThan(0);
  });

  it('strided tensors (padded token-major, head-major caches) give the contiguous result bit for bit', async () => {
    const H = 6, KV = 2, D = 64;
    const s = setup({ seed: 501, numHeads: H, numKvHeads: KV, headDim: D, options: OPTIONS[2] });
    const n = s.L.numTokens;
    const contiguous = attentionSync({ ...s.base, isa, q: s.q, k: s.k, v: s.v, returnLse: true });
    // q padded token-major (stride H*D + 24); k head-major with a capacity of n + 40 tokens; v token-major with padded
    // heads; out head-major with a gap between heads.
    const place = (src: Float32Array, heads: number, token: number, head: number, length: number) => {
      const dst = new Float32Array(length).fill(777);
      for (let t = 0; t < n; t++)
        for (let h = 0; h < heads; h++) dst.set(src.subarray((t * heads + h) * D, (t * heads + h + 1) * D), t * token + h * head);
      return dst;
    };
    const cap = n + 40;
    const strides = {
      q: { token: H * D + 24, head: D },
      k: { token: D, head: cap * D },
      v: { token: KV * (D + 8), head: D + 8 },
      out: { token: D, head: (n + 3) * D },
    };
    const q = place(s.q as Float32Array, H, strides.q.token, strides.q.head, n * strides.q.token);
    const k = place(s.k as Float32Array, KV, strides.k.token, strides.k.head, KV * cap * D);
    const v = place(s.v as Float32Array, KV, strides.v.token, strides.v.head, n * strides.v.token);
    for (const mode of ['sync', 'async'] as const) {
      const out = new Float32Array(H * (n + 3) * D).fill(-5);
      const args = { ...s.base, isa, q, k, v, strides, out, returnLse: true };
      const r = mode === 'sync' ? attentionSync(args) : await attention(args);
      expect(r.out).toBe(out);
      for (let t = 0; t < n; t++)
        for (let h = 0; h < H; h++) {
          const got = out.subarray(t * strides.out.token + h * strides.out.head, t * strides.out.token + h * strides.out.head + D);
          const want = contiguous.out.subarray((t * H + h) * D, (t * H + h + 1) * D);
          expect(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(want.buffer, want.byteOffset, want.byteLength))).toBe(true);
        }
      // Elements between the strided rows are the caller's and stay as they were.
      for (let h = 0; h < H; h++) expect(out.subarray(h * strides.out.head + n * D, (h + 1) * strides.out.head).every((x) => x === -5)).toBe(true);
      expect(Buffer.from(r.lse!.buffer).equals(Buffer.from(contiguous.lse!.buffer))).toBe(true);
    }
  });
});

describe('mergeAttention', () => {
  it('merges in place into a partial, weighs -inf partials as nothing, and gives 0 / -inf where every partial is empty', () => {
    const H = 2, D = 8, rows = 3;
    const a = { out: new Float32Array(rows * H * D).fill(1), lse: Float32Array.from([0, -Infinity, -Infinity, 2, 5, -Infinity]) };
    const b = { out: new Float32Array(rows * H * D).fill(3), lse: Float32Array.from([0, 1, -Infinity, -Infinity, 5, Number.NaN]) };
    const r = mergeAttention({ partials: [a, b], numHeads: H, headDim: D, out: a.out, lse: a.lse });
    const at = (row: number, h: number) => r.out[(row * H + h) * D];
    expect(at(0, 0)).toBeCloseTo(2, 6); // equal weights
    expect(r.lse![0]).toBeCloseTo(Math.log(2), 6);
    expect(at(0, 1)).toBe(3); // only b
    expect(r.lse![1]).toBeCloseTo(1, 6);
    expect(at(1, 0)).toBe(0); // nothing at all
    expect(r.lse![2]).toBe(-Infinity);
    expect(at(1, 1)).toBe(1);
    expect(at(2, 0)).toBeCloseTo(2, 6);
    expect(Number.isNaN(at(2, 1))).toBe(true);
    expect(Number.isNaN(r.lse![5])).toBe(true);
  });

  it('rejects mismatched partials and overlapping outputs', () => {
    const buf = new Float32Array(40);
    const p = { out: buf.subarray(0, 16), lse: new Float32Array(2) };
    expect(() => mergeAttention({ partials: [p, { out: new Float32Array(8), lse: new Float32Array(1) }], numHeads: 1, headDim: 8 })).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    expect(() => mergeAttention({ partials: [], numHeads: 1, headDim: 8 })).toThrow(TypeError);
    expect(() => mergeAttention({ partials: [p], numHeads: 1, headDim: 8, out: buf.subarray(4, 20) })).toThrow(expect.objectContaining({ code: 'ALIASED_OUTPUT' }));
  });
});

describe('KvPack: the K/V copy kept between micro-batches', () => {
  it.each(OPTIONS.map((o, i) => [i, o] as const))('gives the same rows, bit for bit, as calls without, options %i', (i, options) => {
    for (const [dtype, headDim, numHeads, numKvHeads] of [['f32', 64, 6, 2], ['bf16', 80, 8, 4], ['f16', 128, 4, 2]] as const) {
      const s = setup({ seed: 700 + i * 10 + headDim, numHeads, numKvHeads, headDim, options, dtype, blockM: i === 2 ? 32 : undefined });
      const H = numHeads, KV = numKvHeads, D = headDim;
      const whole = s.ref();
      const pack = new KvPack();
      let kept = 0;
      for (const { queries, keys } of microBatches(s.rng, s.L, options)) {
        const qRows = queries.reduce((a, [b, e]) => a + e - b, 0);
        const args = { ...s.base, q: gather(s.q, queries, H * D), k: gather(s.k, keys, KV * D), v: gather(s.v, keys, KV * D), queries, keys };
        const plain = { out: poisoned(qRows * H * D), lse: poisoned(qRows * H) };
        const packed = { out: poisoned(qRows * H * D), lse: poisoned(qRows * H) };
        attentionSync({ ...args, ...plain });
        attentionSync({ ...args, ...packed, kvPack: pack });
        expect(packed.out).toEqual(plain.out);
        expect(packed.lse).toEqual(plain.lse);
        const expOut = queries.flatMap(([b, e]) => rows(whole.out, b, e, H * D));
        if (qRows > 0) expect(relL2(packed.out, expOut)).toBeLessThan(tolerance(cpuInfo().defaultIsa as CpuIsa, dtype));
        // Rows are copied once, as calls first visit them: the count only grows, up to the layout's tokens.
        expect(pack.keptRows).toBeGreaterThanOrEqual(kept);
        kept = pack.keptRows;
      }
      expect(kept).toBeGreaterThan(0);
      expect(kept).toBeLessThanOrEqual(s.L.numTokens);
      expect(pack.bytes).toBe(2 * s.L.numTokens * KV * D * (dtype === 'f32' ? 4 : 2));
      pack.dispose();
      expect(pack.bytes).toBe(0);
    }
  });

  it('serves KV shards (keys that do not start at the sequence) and keeps non-finite keys exact', () => {
    const options = OPTIONS[0];
    const s = setup({ seed: 811, numHeads: 4, numKvHeads: 2, headDim: 64, options });
    const H = 4, KV = 2, D = 64, L = s.L;
    const k = (s.k as Float32Array).slice(), v = (s.v as Float32Array).slice();
    // A NaN in one key row and an infinity in one value row: they reach exactly the rows that see them.
    k[(Math.floor(L.numTokens / 3) * KV + 1) * D + 5] = Number.NaN;
    v[(Math.floor((2 * L.numTokens) / 3) * KV) * D + 7] = Number.POSITIVE_INFINITY;
    const pack = new KvPack();
    for (let pass = 0; pass < 2; pass++) {
      // Shards in a different order each pass: the second pass reads only rows the pack kept.
      const seqCuts = Array.from({ length: L.numSequences }, (_, q) => cuts(s.rng, L.cuSeqlens[q], L.cuSeqlens[q + 1], 3));
      const shards = Math.max(...seqCuts.map((c) => c.length - 1));
      for (let j0 = 0; j0 < shards; j0++) {
        const j = pass ? shards - 1 - j0 : j0;
        const keys: TokenRange[] = seqCuts.map((c, q) => (j + 1 < c.length ? [c[j], c[j + 1]] : [L.cuSeqlens[q + 1], L.cuSeqlens[q + 1]]));
        const args = { ...s.base, q: s.q, k: gather(k, keys, KV * D), v: gather(v, keys, KV * D), keys };
        const plain = { out: poisoned(L.numTokens * H * D), lse: poisoned(L.numTokens * H) };
        const packed = { out: poisoned(L.numTokens * H * D), lse: poisoned(L.numTokens * H) };
        attentionSync({ ...args, ...plain });
        attentionSync({ ...args, ...packed, kvPack: pack });
        expect(packed.out).toEqual(plain.out);
        expect(packed.lse).toEqual(plain.lse);
      }
    }
    pack.dispose();
  });

  it('fails with KV_PACK_STALE when kept rows change, starts over after reset() or on another shape', async () => {
    const s = setup({ seed: 901, numHeads: 4, numKvHeads: 2, headDim: 64, options: OPTIONS[0] });
    const n = s.L.numTokens, H = 4, KV = 2, D = 64;
    const pack = new KvPack();
    const call = (k: Float32Array, extra: object = {}) =>
      attentionSync({ ...s.base, q: s.q, k, v: s.v, out: poisoned(n * H * D), kvPack: pack, ...extra }).out;
    const first = call(s.k as Float32Array);
    // Another layer's keys through the same pack: every kept row differs.
    const other = (s.k as Float32Array).map((x) => x * 0.5);
    expect(() => call(other)).toThrow(expect.objectContaining({ code: 'KV_PACK_STALE' }));
    pack.reset();
    expect(pack.keptRows).toBe(0);
    const plainOther = attentionSync({ ...s.base, q: s.q, k: other, v: s.v, out: poisoned(n * H * D) }).out;
    expect(call(other)).toEqual(plainOther);
    // Another element type (a new cache of another shape): the pack starts over by itself.
    const bf = { q: encode(s.q as Float32Array, 'bf16'), k: encode(s.k as Float32Array, 'bf16'), v: encode(s.v as Float32Array, 'bf16') };
    const plainBf = attentionSync({ ...s.base, ...bf, dtype: 'bf16', out: poisoned(n * H * D) }).out;
    expect(attentionSync({ ...s.base, ...bf, dtype: 'bf16', out: poisoned(n * H * D), kvPack: pack }).out).toEqual(plainBf);
    pack.reset();
    // Calls with one pack, in flight together, and a dispose() while they run.
    const runs = [0, 1, 2].map(() => attention({ ...s.base, q: s.q, k: s.k, v: s.v, kvPack: pack }));
    pack.dispose();
    for (const r of await Promise.all(runs)) expect(r.out).toEqual(first);
  });

  it('rejects what is not a KvPack, a disposed pack, and a pack on the CUDA backend', () => {
    const s = setup({ seed: 905, numHeads: 2, numKvHeads: 2, headDim: 32, options: OPTIONS[0] });
    const args = { ...s.base, q: s.q, k: s.k, v: s.v };
    expect(() => attentionSync({ ...args, kvPack: {} as KvPack })).toThrow(TypeError);
    const pack = new KvPack();
    expect(() => attentionSync({ ...args, kvPack: pack, backend: 'cuda' })).toThrow(expect.objectContaining({ code: 'BAD_OPTION' }));
    pack.dispose();
    expect(() => attentionSync({ ...args, kvPack: pack })).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
    expect(() => pack.reset()).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
  });
});
