import { describe, expect, it } from 'vitest';
import {
  CATS,
  type Cat,
  type RefLayout,
  type RefOptions,
  mulberry32,
  randomNormal,
  randomSegments,
  refAttention,
  refLayout,
  refVisible,
  refVisiblePairs,
  relL2,
} from './reference.js';

const DEF: RefOptions = { textKeys: true, bidirectionalImages: false, window: null };

function visibleKeys(L: RefLayout, q: number, cat: Cat, o: RefOptions): number[] {
  const ks: number[] = [];
  for (let k = 0; k < L.numTokens; k++) if (refVisible(L, q, k, cat, o)) ks.push(k);
  return ks;
}

// tokens: 0 T, 1 T, 2 I0(sink), 3 I0, 4 I0, 5 T, 6 I1(sink), 7 I1 ; token 0 is the global sink
const L1 = refLayout([
  [
    { kind: 'text', length: 2 },
    { kind: 'image', length: 3 },
    { kind: 'text', length: 1 },
    { kind: 'image', length: 2 },
  ],
]);

describe('refLayout', () => {
  it('image ids, sinks, sequences for [text 2, image 3, text 1, image 2]', () => {
    expect(L1.numTokens).toBe(8);
    expect([...L1.cuSeqlens]).toEqual([0, 8]);
    expect([...L1.imageIds]).toEqual([-1, -1, 0, 0, 0, -1, 1, 1]);
    expect([...L1.isSink]).toEqual([1, 0, 1, 0, 0, 0, 1, 0]);
    expect([...L1.seqOf]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('globalSinks 0 / 3 / clipped to the sequence length', () => {
    const segs = [[{ kind: 'text', length: 2 }, { kind: 'image', length: 3 }, { kind: 'text', length: 1 }, { kind: 'image', length: 2 }]] as const;
    const s = (g: number) => [...refLayout(segs.map((x) => [...x]), g).isSink];
    expect(s(0)).toEqual([0, 0, 1, 0, 0, 0, 1, 0]);
    expect(s(3)).toEqual([1, 1, 1, 0, 0, 0, 1, 0]);
    expect(s(100)).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
  });

  it('global image numbering, adjacent images get distinct ids, global sinks per sequence', () => {
    const L = refLayout(
      [
        [{ kind: 'image', length: 2 }, { kind: 'image', length: 1 }, { kind: 'text', length: 2 }],
        [{ kind: 'text', length: 3 }],
        [{ kind: 'image', length: 3 }],
      ],
      2,
    );
    expect([...L.cuSeqlens]).toEqual([0, 5, 8, 11]);
    expect([...L.imageIds]).toEqual([0, 0, 1, -1, -1, -1, -1, -1, 2, 2, 2]);
    expect([...L.isSink]).toEqual([1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0]);
    expect([...L.seqOf]).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2]);
  });

  it('rejects bad input', () => {
    expect(() => refLayout([[{ kind: 'text', length: 0 }]])).toThrow();
    expect(() => refLayout([[{ kind: 'image', length: 1.5 }]])).toThrow();
    expect(() => refLayout([[{ kind: 'text', length: 1 }]], -1)).toThrow();
  });
});

describe('refVisible on [text 2, image 3, text 1, image 2]', () => {
  it('query 4 (inside image 0), causal, per category, textKeys on/off', () => {
    const on = DEF;
    const off = { ...DEF, textKeys: false };
    expect(visibleKeys(L1, 4, 'dense', on)).toEqual([0, 1, 2, 3, 4]);
    expect(visibleKeys(L1, 4, 'dense', off)).toEqual([0, 1, 2, 3, 4]);
    expect(visibleKeys(L1, 4, 'sink', on)).toEqual([0, 1, 2, 4]);
    expect(visibleKeys(L1, 4, 'sink', off)).toEqual([0, 2, 4]);
    expect(visibleKeys(L1, 4, 'intra-image', on)).toEqual([0, 1, 2, 3, 4]);
    expect(visibleKeys(L1, 4, 'intra-image', off)).toEqual([2, 3, 4]);
    expect(visibleKeys(L1, 4, 'intra-image+sink', on)).toEqual([0, 1, 2, 3, 4]);
    expect(visibleKeys(L1, 4, 'intra-image+sink', off)).toEqual([0, 2, 3, 4]);
  });

  it('query 4 with window 2: only q-1..q plus sinks survive the base', () => {
    const on = { ...DEF, window: 2 };
    const off = { ...on, textKeys: false };
    expect(visibleKeys(L1, 4, 'dense', on)).toEqual([0, 2, 3, 4]);
    expect(visibleKeys(L1, 4, 'sink', on)).toEqual([0, 2, 4]);
    expect(visibleKeys(L1, 4, 'sink', off)).toEqual([0, 2, 4]);
    expect(visibleKeys(L1, 4, 'intra-image', on)).toEqual([0, 2, 3, 4]);
    expect(visibleKeys(L1, 4, 'intra-image', off)).toEqual([2, 3, 4]);
    expect(visibleKeys(L1, 4, 'intra-image+sink', off)).toEqual([0, 2, 3, 4]);
  });

  it('query 7 (image 1): other image and its sink', () => {
    expect(visibleKeys(L1, 7, 'intra-image', { ...DEF, textKeys: false })).toEqual([6, 7]);
    expect(visibleKeys(L1, 7, 'sink', { ...DEF, textKeys: false })).toEqual([0, 2, 6, 7]);
    expect(visibleKeys(L1, 7, 'sink', DEF)).toEqual([0, 1, 2, 5, 6, 7]);
    // window 1: base = self + sinks {0,2,6}; intra-image keeps own image + text sink 0, drops image-0 sink 2
    expect(visibleKeys(L1, 7, 'intra-image', { ...DEF, window: 1 })).toEqual([0, 6, 7]);
    expect(visibleKeys(L1, 7, 'dense', { ...DEF, window: 1 })).toEqual([0, 2, 6, 7]);
  });

  it('text queries see the whole base mask for every category', () => {
    for (const cat of CATS) {
      expect(visibleKeys(L1, 5, cat, { ...DEF, textKeys: false })).toEqual([0, 1, 2, 3, 4, 5]);
      expect(visibleKeys(L1, 5, cat, { ...DEF, window: 2 })).toEqual([0, 2, 4, 5]);
      expect(visibleKeys(L1, 1, cat, { ...DEF, bidirectionalImages: true })).toEqual([0, 1]);
    }
  });

  it('bidirectional images: future keys of the own image only, unaffected by the window', () => {
    const bi = { ...DEF, bidirectionalImages: true };
    expect(visibleKeys(L1, 3, 'intra-image', bi)).toEqual([0, 1, 2, 3, 4]);
    expect(visibleKeys(L1, 3, 'intra-image', { ...bi, textKeys: false })).toEqual([2, 3, 4]);
    expect(visibleKeys(L1, 2, 'dense', bi)).toEqual([0, 1, 2, 3, 4]);
    expect(visibleKeys(L1, 2, 'sink', { ...bi, textKeys: false })).toEqual([0, 2]); // future 3,4 are not sinks
    expect(visibleKeys(L1, 2, 'dense', { ...bi, window: 1 })).toEqual([0, 2, 3, 4]);
    expect(visibleKeys(L1, 6, 'dense', { ...bi, window: 1 })).toEqual([0, 2, 6, 7]);
    // future keys in a *different* image stay hidden
    expect(refVisible(L1, 4, 6, 'dense', bi)).toBe(false);
  });

  it('every token always sees itself', () => {
    for (const cat of CATS)
      for (const window of [null, 1, 3])
        for (const textKeys of [true, false])
          for (let q = 0; q < L1.numTokens; q++)
            expect(refVisible(L1, q, q, cat, { textKeys, window, bidirectionalImages: false })).toBe(true);
  });
});

describe('sequences are isolated', () => {
  const L = refLayout([
    [{ kind: 'text', length: 2 }, { kind: 'image', length: 2 }],
    [{ kind: 'image', length: 3 }],
  ]);
  it('no key from the other sequence, even bidirectional/dense', () => {
    const o = { ...DEF, bidirectionalImages: true };
    for (const cat of CATS) {
      for (let q = 0; q < 4; q++) for (let k = 4; k < 7; k++) expect(refVisible(L, q, k, cat, o)).toBe(false);
      for (let q = 4; q < 7; q++) for (let k = 0; k < 4; k++) expect(refVisible(L, q, k, cat, o)).toBe(false);
    }
    expect(visibleKeys(L, 4, 'dense', DEF)).toEqual([4]);
    expect(visibleKeys(L, 5, 'dense', o)).toEqual([4, 5, 6]);
  });
  it('pair counts', () => {
    expect(refVisiblePairs(L, 'dense', DEF)).toBe(10 + 6);
    expect(refVisiblePairs(L, 'dense', { ...DEF, bidirectionalImages: true })).toBe(10 + 1 + 6 + 3);
    // 'sink' without text keys: seq0 q=2 sees {0,2}, q=3 sees {0,2,3}; seq1 q=4 {4}, q=5 {4,5}, q=6 {4,6}
    expect(refVisiblePairs(L, 'sink', { ...DEF, textKeys: false })).toBe(1 + 2 + 2 + 3 + 1 + 2 + 2);
  });
});

describe('refAttention', () => {
  it('a single visible key gives out = v and lse = scaled score', () => {
    // token 0 of each sequence sees only itself
    const L = refLayout([[{ kind: 'image', length: 2 }], [{ kind: 'text', length: 2 }]]);
    const rng = mulberry32(1);
    const H = 2, D = 4;
    const q = randomNormal(rng, L.numTokens * H * D);
    const k = randomNormal(rng, L.numTokens * H * D);
    const v = randomNormal(rng, L.numTokens * H * D);
    for (const scale of [undefined, 0.7]) {
      const { out, lse } = refAttention({ q, k, v, layout: L, heads: ['sink', 'dense'], numHeads: H, numKvHeads: H, headDim: D, scale, options: DEF });
      const s = scale ?? 1 / Math.sqrt(D);
      for (const t of [0, 2])
        for (let h = 0; h < H; h++) {
          let dot = 0;
          for (let d = 0; d < D; d++) {
            const i = (t * H + h) * D + d;
            expect(out[i]).toBeCloseTo(v[i]!, 12);
            dot += q[i]! * k[i]!;
          }
          expect(lse[t * H + h]).toBeCloseTo(s * dot, 12);
        }
    }
  });

  it('two visible keys: softmax by hand', () => {
    // [image 3], globalSinks 0, cat 'sink', no text keys: token 1 sees {0 (image sink), 1}
    const L = refLayout([[{ kind: 'image', length: 3 }]], 0);
    const D = 2;
    const q = new Float32Array([0, 0, 1, 2, 0, 0]);
    const k = new Float32Array([3, 0, 0, 1, 100, 100]);
    const v = new Float32Array([1, 2, 5, 7, 0, 0]);
    const { out, lse } = refAttention({ q, k, v, layout: L, heads: ['sink'], numHeads: 1, numKvHeads: 1, headDim: D, scale: 0.5, options: { ...DEF, textKeys: false } });
    // scores: 0.5*(3) = 1.5 for key 0, 0.5*(2) = 1 for key 1 ; key 2 not visible (future)
    const p0 = Math.exp(1.5) / (Math.exp(1.5) + Math.exp(1));
    expect(lse[1]).toBeCloseTo(Math.log(Math.exp(1.5) + Math.exp(1)), 12);
    expect(out[2]).toBeCloseTo(p0 * 1 + (1 - p0) * 5, 12);
    expect(out[3]).toBeCloseTo(p0 * 2 + (1 - p0) * 7, 12);
    // token 2 sees {0, 2}: scores 0 and 0 -> mean of v0, v2
    expect(out[4]).toBeCloseTo(0.5, 12);
    expect(out[5]).toBeCloseTo(1, 12);
    expect(lse[2]).toBeCloseTo(Math.log(2), 12);
  });

  it('GQA: query head h uses KV head floor(h / (numHeads / numKvHeads))', () => {
    const L = refLayout([[{ kind: 'text', length: 1 }]]);
    const H = 6, KVH = 3, D = 3;
    const q = new Float32Array(H * D).fill(1);
    const k = new Float32Array(KVH * D);
    const v = new Float32Array(KVH * D);
    for (let j = 0; j < KVH; j++) for (let d = 0; d < D; d++) { v[j * D + d] = 10 * j + d; k[j * D + d] = j; }
    const { out, lse } = refAttention({ q, k, v, layout: L, heads: Array<Cat>(H).fill('dense'), numHeads: H, numKvHeads: KVH, headDim: D, scale: 1, options: DEF });
    for (let h = 0; h < H; h++) {
      const j = Math.floor(h / 2);
      expect([...out.subarray(h * D, h * D + D)]).toEqual([10 * j, 10 * j + 1, 10 * j + 2]);
      expect(lse[h]).toBeCloseTo(D * j, 12);
    }
  });

  it('softmax is shift-stable for huge scores and matches the dense formula on one row', () => {
    const L = refLayout([[{ kind: 'text', length: 5 }]]);
    const rng = mulberry32(7);
    const D = 8;
    const q = randomNormal(rng, 5 * D, 30);
    const k = randomNormal(rng, 5 * D, 30);
    const v = randomNormal(rng, 5 * D);
    const { out, lse } = refAttention({ q, k, v, layout: L, heads: ['dense'], numHeads: 1, numKvHeads: 1, headDim: D, options: DEF });
    for (const x of out) expect(Number.isFinite(x)).toBe(true);
    for (const x of lse) expect(Number.isFinite(x)).toBe(true);
    // small-scale version through the naive formula
    const { out: o2, lse: l2 } = refAttention({ q, k, v, layout: L, heads: ['dense'], numHeads: 1, numKvHeads: 1, headDim: D, scale: 1e-3, options: DEF });
    const t = 4;
    const w = [0, 1, 2, 3, 4].map((j) => { let s = 0; for (let d = 0; d < D; d++) s += q[t * D + d]! * k[j * D + d]!; return Math.exp(1e-3 * s); });
    const Z = w.reduce((a, b) => a + b, 0);
    expect(l2[t]).toBeCloseTo(Math.log(Z), 12);
    for (let d = 0; d < D; d++) expect(o2[t * D + d]).toBeCloseTo(w.reduce((acc, wj, j) => acc + wj * v[j * D + d]!, 0) / Z, 12);
  });

  it('validates shapes and options', () => {
    const L = refLayout([[{ kind: 'text', length: 2 }]]);
    const z = new Float32Array(2 * 2 * 2);
    const base = { q: z, k: z, v: z, layout: L, heads: ['dense', 'dense'] as Cat[], numHeads: 2, numKvHeads: 2, headDim: 2, options: DEF };
    expect(() => refAttention(base)).not.toThrow();
    expect(() => refAttention({ ...base, numKvHeads: 3 })).toThrow();
    expect(() => refAttention({ ...base, heads: ['dense'] })).toThrow();
    expect(() => refAttention({ ...base, options: { ...DEF, window: 0 } })).toThrow();
  });
});

describe('utilities', () => {
  it('mulberry32 is deterministic and in [0, 1)', () => {
    const a = mulberry32(42), b = mulberry32(42);
    for (let i = 0; i < 1000; i++) {
      const x = a();
      expect(x).toBe(b());
      expect(x >= 0 && x < 1).toBe(true);
    }
  });

  it('randomNormal has roughly the requested mean/std', () => {
    const x = randomNormal(mulberry32(3), 20001, 2);
    expect(x.length).toBe(20001);
    let m = 0, s = 0;
    for (const v of x) m += v;
    m /= x.length;
    for (const v of x) s += (v - m) ** 2;
    s = Math.sqrt(s / x.length);
    expect(Math.abs(m)).toBeLessThan(0.05);
    expect(Math.abs(s - 2)).toBeLessThan(0.05);
  });

  it('relL2', () => {
    expect(relL2([1, 2, 3], [1, 2, 3])).toBe(0);
    expect(relL2([0, 0], [3, 4])).toBe(1);
    expect(relL2([3, 5], [3, 4])).toBeCloseTo(0.2, 12);
    expect(relL2([NaN], [1])).toBeNaN();
  });

  it('randomSegments respects limits and covers the required shapes', () => {
    const rng = mulberry32(123);
    let img1 = 0, textOnly = 0, imageFirst = 0, adjacent = 0, long = 0, multiSeq = 0;
    for (let i = 0; i < 300; i++) {
      const segs = randomSegments(rng);
      const L = refLayout(segs); // validates segments
      expect(L.numTokens).toBeLessThanOrEqual(400);
      expect(segs.length).toBeGreaterThanOrEqual(1);
      expect(segs.length).toBeLessThanOrEqual(4);
      if (segs.length > 1) multiSeq++;
      for (const seq of segs) {
        expect(seq.length).toBeGreaterThanOrEqual(1);
        if (seq.every((s) => s.kind === 'text')) textOnly++;
        if (seq[0]!.kind === 'image') imageFirst++;
        for (let j = 0; j < seq.length; j++) {
          const s = seq[j]!;
          if (s.kind === 'image' && s.length === 1) img1++;
          if (s.kind === 'image' && s.length >= 200) long++;
          if (j > 0 && s.kind === 'image' && seq[j - 1]!.kind === 'image') adjacent++;
        }
      }
    }
    for (const c of [img1, textOnly, imageFirst, adjacent, long, multiSeq]) expect(c).toBeGreaterThan(5);
    const small = randomSegments(mulberry32(9), { maxTokens: 10, maxSeqs: 1 });
    expect(small.length).toBe(1);
    expect(refLayout(small).numTokens).toBeLessThanOrEqual(10);
  });

  it('refAttention on ~400 tokens x 8 heads x 256 dims runs in reasonable time', () => {
    const rng = mulberry32(5);
    const segs = randomSegments(rng);
    const L = refLayout(segs);
    const H = 8, KVH = 2, D = 256, N = L.numTokens;
    const t0 = performance.now();
    const { out, lse } = refAttention({
      q: randomNormal(rng, N * H * D), k: randomNormal(rng, N * KVH * D), v: randomNormal(rng, N * KVH * D),
      layout: L, heads: [...CATS, ...CATS], numHeads: H, numKvHeads: KVH, headDim: D,
      options: { textKeys: true, bidirectionalImages: true, window: 64 },
    });
    const ms = performance.now() - t0;
    expect(out.length).toBe(N * H * D);
    expect(lse.every(Number.isFinite)).toBe(true);
    expect(ms).toBeLessThan(20000);
  });
});
