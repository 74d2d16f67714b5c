// Query / key ranges and strides as arguments (their typed errors), and MaskPlan.rangeStats against brute force over
// the reference's element rule.
import { describe, expect, it } from 'vitest';
import { attentionSync, HEAD_CATEGORIES, Layout, MaskPlan } from '../../dist/index.js';
import { mulberry32, randomSegments, refLayout, refVisible, type RefOptions } from '../oracle/reference.js';

const OPTIONS: RefOptions[] = [
  { textKeys: true, bidirectionalImages: false, window: null },
  { textKeys: false, bidirectionalImages: true, window: null },
  { textKeys: true, bidirectionalImages: true, window: 19 },
  { textKeys: false, bidirectionalImages: false, window: 40 },
  { textKeys: true, bidirectionalImages: true, window: 33, windowKeepsSinks: false },
  { textKeys: false, bidirectionalImages: false, window: 7, windowKeepsSinks: false },
];

describe('MaskPlan.rangeStats', () => {
  it('counts the visible pairs of any rectangle as brute force over the element rule does', () => {
    let rectangles = 0, empty = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const rng = mulberry32(seed * 977);
      const segs = randomSegments(rng, { maxSeqs: 3, maxTokens: 150, maxImageLen: 60, maxTextLen: 12 });
      const g = seed % 3;
      const L = Layout.fromSegments(segs, { globalSinks: g });
      const R = refLayout(segs, g);
      const o = OPTIONS[seed % OPTIONS.length];
      const plan = MaskPlan.build(L, o);
      const n = L.numTokens;
      for (let r = 0; r < 12; r++) {
        const a = Math.floor(rng() * (n + 1)), b = Math.floor(rng() * (n + 1));
        const c = Math.floor(rng() * (n + 1)), d = Math.floor(rng() * (n + 1));
        const q: [number, number] = [Math.min(a, b), Math.max(a, b)], k: [number, number] = [Math.min(c, d), Math.max(c, d)];
        if (r === 0) (q[0] = 0), (q[1] = n), (k[0] = 0), (k[1] = n);
        for (const cat of HEAD_CATEGORIES) {
          let want = 0, base = 0;
          for (let x = q[0]; x < q[1]; x++)
            for (let y = k[0]; y < k[1]; y++) {
              want += refVisible(R, x, y, cat, o) ? 1 : 0;
              base += refVisible(R, x, y, 'dense', o) ? 1 : 0;
            }
          const s = plan.rangeStats(cat, q, k);
          expect(s.visiblePairs, `seed ${seed} ${cat} q [${q}] k [${k}]`).toBe(want);
          expect(s.basePairs).toBe(base);
          expect(s.empty).toBe(want === 0);
          rectangles++;
          empty += want === 0 ? 1 : 0;
        }
      }
      // The whole matrix is the plan's own statistic.
      for (const cat of HEAD_CATEGORIES) expect(plan.rangeStats(cat, [0, n], [0, n]).visiblePairs).toBe(plan.stats(cat).visiblePairs);
    }
    expect(rectangles).toBe(30 * 12 * 4);
    expect(empty).toBeGreaterThan(0);
  });

  it('rejects ranges outside the layout', () => {
    const plan = MaskPlan.build(Layout.fromSegments([[{ kind: 'text', length: 10 }]]));
    expect(() => plan.rangeStats('sink', [0, 11], [0, 1])).toThrow(expect.objectContaining({ code: 'BAD_RANGE' }));
    expect(() => plan.rangeStats('sink', [5, 4], [0, 1])).toThrow(RangeError);
    expect(() => plan.rangeStats('sink', [0, 1] as never as [number, number], [0] as never)).toThrow(TypeError);
  });
});

describe('query and key ranges, strides: argument errors', () => {
  const L = Layout.fromSegments([
    [{ kind: 'text', length: 10 }, { kind: 'image', length: 20 }],
    [{ kind: 'text', length: 6 }],
  ]);
  const plan = MaskPlan.build(L);
  const H = 2, KV = 1, D = 8;
  const base = { plan, heads: ['dense', 'sink'] as const, numHeads: H, numKvHeads: KV, headDim: D };
  const qkv = (qRows: number, kRows: number) => ({
    q: new Float32Array(qRows * H * D), k: new Float32Array(kRows * KV * D), v: new Float32Array(kRows * KV * D),
  });
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return (e as { code?: string }).code;
    }
    return 'no error';
  };

  it('ranges: out of the layout, reversed, crossing a sequence, or the wrong count', () => {
    expect(code(() => attentionSync({ ...base, ...qkv(5, 36), queries: [32, 37] }))).toBe('BAD_RANGE');
    expect(code(() => attentionSync({ ...base, ...qkv(0, 36), queries: [5, 3] }))).toBe('BAD_RANGE');
    expect(code(() => attentionSync({ ...base, ...qkv(10, 36), queries: [[25, 35], [30, 30]] }))).toBe('BAD_RANGE');
    expect(code(() => attentionSync({ ...base, ...qkv(10, 36), keys: [[0, 10]] }))).toBe('BAD_RANGE');
    expect(code(() => attentionSync({ ...base, ...qkv(10, 36), queries: [0.5, 10] }))).toBe('BAD_ARGUMENT');
    expect(() => attentionSync({ ...base, ...qkv(10, 36), queries: '0:10' as never })).toThrow(TypeError);
    // One pair over the packed layout takes each sequence's part: [25, 33) is 5 rows of sequence 0 and 3 of 1.
    expect(code(() => attentionSync({ ...base, ...qkv(8, 36), queries: [25, 33] }))).toBe('no error');
    expect(code(() => attentionSync({ ...base, ...qkv(7, 36), queries: [25, 33] }))).toBe('SHAPE_MISMATCH');
    expect(code(() => attentionSync({ ...base, ...qkv(36, 20), keys: [[10, 30], [30, 30]] }))).toBe('no error');
    expect(code(() => attentionSync({ ...base, ...qkv(36, 21), keys: [[10, 30], [30, 30]] }))).toBe('SHAPE_MISMATCH');
  });

  it('strides: negative, overlapping, too short a buffer, out strides without out, overlapping out', () => {
    const t = qkv(36, 36);
    expect(code(() => attentionSync({ ...base, ...t, strides: { q: { token: -16, head: 8 } } }))).toBe('BAD_STRIDE');
    expect(code(() => attentionSync({ ...base, ...t, strides: { q: { token: 8, head: 8 } } }))).toBe('BAD_STRIDE');
    expect(code(() => attentionSync({ ...base, ...t, strides: { q: { token: 16, head: 4 } } }))).toBe('BAD_STRIDE');
    expect(code(() => attentionSync({ ...base, ...t, strides: { q: { token: 8, head: 8 * 35 } } }))).toBe('BAD_STRIDE');
    expect(code(() => attentionSync({ ...base, ...t, strides: { q: { token: 8, head: 36 * 8 } } }))).toBe('no error');
    expect(code(() => attentionSync({ ...base, ...t, strides: { q: { token: 24, head: 8 } } }))).toBe('SHAPE_MISMATCH');
    expect(code(() => attentionSync({ ...base, ...t, strides: { q: { token: '16' as never, head: 8 } } }))).toBe('BAD_ARGUMENT');
    expect(code(() => attentionSync({ ...base, ...t, strides: { out: { token: 16, head: 8 } } }))).toBe('BAD_OPTION');
    // An out whose strided span reaches into k.
    const buf = new Float32Array(36 * 8 + 36 * 16 + 64);
    const k = buf.subarray(0, 36 * 8), out = buf.subarray(36 * 8 - 8);
    expect(code(() => attentionSync({ ...base, q: t.q, k, v: t.v, out, strides: { out: { token: 16, head: 8 } } }))).toBe('ALIASED_OUTPUT');
  });
});
