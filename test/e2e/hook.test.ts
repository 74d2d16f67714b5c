import { describe, expect, it } from 'vitest';
import { BlindsightError, HEAD_CATEGORIES, HeadPolicy, Layout, MaskPlan, PromptAttention, type HeadCategory } from '../../dist/index.js';
import { mulberry32, randomSegments, refAttention, refLayout, refVisiblePairs, relL2, type RefOptions } from '../oracle/reference.js';
import { poisoned, randomQkv } from '../helpers/tensors.js';

const TOL = 1e-5;

// A 3-layer model whose layers use different category mixes, so a layer that ran with another layer's categories
// would disagree with the reference.
function model(numHeads: number, seed: number): HeadPolicy {
  const rng = mulberry32(seed);
  return new HeadPolicy(
    [
      Array<HeadCategory>(numHeads).fill('dense'),
      Array.from({ length: numHeads }, (_, h) => HEAD_CATEGORIES[(h + 1) % 4]),
      Array.from({ length: numHeads }, () => HEAD_CATEGORIES[1 + Math.floor(rng() * 3)]),
    ],
    { model: 'test-model' },
  );
}

describe('PromptAttention (per-prompt, per-layer hook)', () => {
  const cases: { seed: number; numHeads: number; numKvHeads: number; headDim: number; options: RefOptions }[] = [
    { seed: 11, numHeads: 4, numKvHeads: 2, headDim: 64, options: { textKeys: true, bidirectionalImages: false, window: null } },
    { seed: 12, numHeads: 6, numKvHeads: 3, headDim: 32, options: { textKeys: false, bidirectionalImages: true, window: 40 } },
  ];

  it.each(cases)('every layer matches the float64 reference with its own categories (seed $seed)', async (c) => {
    const segs = randomSegments(mulberry32(c.seed), { maxTokens: 260, maxImageLen: 150 });
    const layout = Layout.fromSegments(segs);
    const policy = model(c.numHeads, c.seed);
    const hook = PromptAttention.create(layout, policy, { numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: c.headDim, ...c.options, returnLse: true });
    const ref = refLayout(segs);
    for (let l = 0; l < policy.numLayers; l++) {
      const { q, k, v } = randomQkv(c.seed * 100 + l, layout.numTokens, c.numHeads, c.numKvHeads, c.headDim);
      const out = poisoned(q.length);
      const lse = poisoned(layout.numTokens * c.numHeads);
      const layer = hook.layer(l);
      const r = l % 2 === 0 ? await layer.forward(q, k, v, { out, lse }) : layer.forwardSync(q, k, v, { out, lse });
      expect(r.out).toBe(out);
      expect(r.lse).toBe(lse);
      const expected = refAttention({ q, k, v, layout: ref, heads: [...policy.layer(l)], numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: c.headDim, options: c.options });
      expect(out.every(Number.isFinite)).toBe(true);
      expect(relL2(out, expected.out)).toBeLessThan(TOL);
      expect(relL2(lse, expected.lse)).toBeLessThan(TOL);
    }
  });

  it.each(cases)('micro-batches against a growing head-major KV cache read in place equal the whole prompt (seed $seed)', async (c) => {
    const segs = randomSegments(mulberry32(c.seed + 50), { maxTokens: 300, maxImageLen: 150 });
    const layout = Layout.fromSegments(segs);
    const policy = model(c.numHeads, c.seed);
    const H = c.numHeads, KV = c.numKvHeads, D = c.headDim, n = layout.numTokens;
    const hook = PromptAttention.create(layout, policy, { numHeads: H, numKvHeads: KV, headDim: D, ...c.options, returnLse: true });
    const ref = refLayout(segs);
    const batches = hook.microBatches(37);
    expect(batches[0].queries[0]).toBe(0);
    expect(batches.at(-1)!.queries[1]).toBe(n);
    for (let l = 0; l < policy.numLayers; l++) {
      const { q, k, v } = randomQkv(c.seed * 300 + l, n, H, KV, D);
      // The runtime's cache: [kv head][capacity][head dim], filled as tokens arrive.
      const capacity = n + 16;
      const kCache = new Float32Array(KV * capacity * D), vCache = new Float32Array(KV * capacity * D);
      const strides = { k: { token: D, head: capacity * D }, v: { token: D, head: capacity * D } };
      const out = poisoned(n * H * D), lse = poisoned(n * H);
      for (const { queries: [b, e] } of batches) {
        for (let t = b; t < e; t++)
          for (let g = 0; g < KV; g++) {
            kCache.set(k.subarray((t * KV + g) * D, (t * KV + g + 1) * D), (g * capacity + t) * D);
            vCache.set(v.subarray((t * KV + g) * D, (t * KV + g + 1) * D), (g * capacity + t) * D);
          }
        const args = { queries: [b, e] as [number, number], strides, out: out.subarray(b * H * D, e * H * D), lse: lse.subarray(b * H, e * H) };
        const r = l % 2 ? hook.layer(l).forwardSync(q.subarray(b * H * D, e * H * D), kCache, vCache, args) : await hook.layer(l).forward(q.subarray(b * H * D, e * H * D), kCache, vCache, args);
        expect(r.out.length).toBe((e - b) * H * D);
      }
      const expected = refAttention({ q, k, v, layout: ref, heads: [...policy.layer(l)], numHeads: H, numKvHeads: KV, headDim: D, options: c.options });
      expect(out.every(Number.isFinite)).toBe(true);
      expect(relL2(out, expected.out)).toBeLessThan(TOL);
      expect(relL2(lse, expected.lse)).toBeLessThan(TOL);
    }
    // The micro-batches' FLOPs add up to one whole forward's.
    const s = hook.summary(), whole = hook.modelFlops();
    expect(s.calls).toBe(batches.length * policy.numLayers);
    expect(s.keptFlops).toBe(whole.keptFlops);
    expect(s.denseFlops).toBe(whole.denseFlops);
  });

  it('kvPacks: micro-batches of every layer in turn, against token-major caches, equal the whole prompt, prompt after prompt', async () => {
    const segs = randomSegments(mulberry32(61), { maxTokens: 300, maxImageLen: 150 });
    const layout = Layout.fromSegments(segs);
    const policy = model(6, 3);
    const H = 6, KV = 2, D = 32, n = layout.numTokens;
    const hook = PromptAttention.create(layout, policy, { numHeads: H, numKvHeads: KV, headDim: D, kvPacks: true });
    const batches = hook.microBatches(29);
    for (let prompt = 0; prompt < 2; prompt++) {
      if (prompt > 0) hook.resetKvPacks();
      const inputs = Array.from({ length: policy.numLayers }, (_, l) => randomQkv(900 + 10 * prompt + l, n, H, KV, D));
      const outs = inputs.map(() => poisoned(n * H * D));
      // As a runtime runs a prompt: each micro-batch through every layer, each layer against its own growing cache.
      for (const { queries: [b, e] } of batches)
        for (let l = 0; l < policy.numLayers; l++) {
          const { q, k, v } = inputs[l];
          const args = { queries: [b, e] as [number, number], out: outs[l].subarray(b * H * D, e * H * D) };
          const kv = [k.subarray(0, e * KV * D), v.subarray(0, e * KV * D)] as const;
          if (l % 2) hook.layer(l).forwardSync(q.subarray(b * H * D, e * H * D), ...kv, args);
          else await hook.layer(l).forward(q.subarray(b * H * D, e * H * D), ...kv, args);
        }
      for (let l = 0; l < policy.numLayers; l++) {
        const { q, k, v } = inputs[l];
        const expected = refAttention({ q, k, v, layout: refLayout(segs), heads: [...policy.layer(l)], numHeads: H, numKvHeads: KV, headDim: D, options: { textKeys: true, bidirectionalImages: false, window: null } });
        expect(outs[l].every(Number.isFinite)).toBe(true);
        expect(relL2(outs[l], expected.out)).toBeLessThan(TOL);
      }
    }
    // A second prompt through the kept copies without resetKvPacks(): the pack sees rows that changed.
    const { q, k, v } = randomQkv(999, n, H, KV, D);
    expect(() => hook.layer(0).forwardSync(q.subarray(0, n * H * D), k, v, { queries: [0, n] })).toThrow(expect.objectContaining({ code: 'KV_PACK_STALE' }));
    expect(() => PromptAttention.create(layout, policy, { numHeads: H, numKvHeads: KV, headDim: D, kvPacks: 1 as unknown as boolean })).toThrow(TypeError);
    hook.dispose();
  });

  it('reuseOutputs: one output per shape, written in place, a fresh one while a call holds it', async () => {
    const segs = randomSegments(mulberry32(77), { maxTokens: 200, maxImageLen: 100 });
    const layout = Layout.fromSegments(segs);
    const policy = model(4, 5);
    const hook = PromptAttention.create(layout, policy, { numHeads: 4, numKvHeads: 2, headDim: 32, reuseOutputs: true, returnLse: true });
    const { q, k, v } = randomQkv(78, layout.numTokens, 4, 2, 32);
    const a = hook.layer(0).forwardSync(q, k, v);
    const b = hook.layer(1).forwardSync(q, k, v);
    expect(b.out).toBe(a.out);
    expect(b.lse).toBe(a.lse);
    expect(a.out.buffer).toBeInstanceOf(SharedArrayBuffer);
    const ref = refAttention({ q, k, v, layout: refLayout(segs), heads: [...policy.layer(1)], numHeads: 4, numKvHeads: 2, headDim: 32, options: { textKeys: true, bidirectionalImages: false, window: null } });
    expect(relL2(b.out, ref.out)).toBeLessThan(TOL);
    // Two calls at once: the second cannot share the first one's output.
    const [c, d] = await Promise.all([hook.layer(2).forward(q, k, v), hook.layer(2).forward(q, k, v)]);
    expect(c.out).not.toBe(d.out);
    expect(c.out).toEqual(d.out);
    // A micro-batch has a shape of its own.
    const e = hook.layer(0).forwardSync(q.subarray(0, 10 * 4 * 32), k.subarray(0, 10 * 2 * 32), v.subarray(0, 10 * 2 * 32), { queries: [0, 10] });
    expect(e.out.length).toBe(10 * 4 * 32);
    expect(e.out).not.toBe(a.out);
    expect(() => PromptAttention.create(layout, policy, { numHeads: 4, numKvHeads: 2, headDim: 32, reuseOutputs: 'yes' as never })).toThrow(TypeError);
  });

  it('bidirectional images: a micro-batch never ends inside an image', () => {
    const layout = Layout.fromSegments([{ kind: 'text', length: 10 }, { kind: 'image', length: 70 }, { kind: 'text', length: 5 }]);
    const hook = PromptAttention.create(layout, model(4, 3), { numHeads: 4, numKvHeads: 1, headDim: 16, bidirectionalImages: true });
    expect(hook.microBatches(32).map((b) => b.queries)).toEqual([[0, 80], [80, 85]]);
    expect(() => hook.microBatches(0)).toThrow(RangeError);
  });

  it('builds one plan and reuses it for every layer; a given MaskPlan is used as is', () => {
    const layout = Layout.fromSegments([{ kind: 'text', length: 10 }, { kind: 'image', length: 70 }, { kind: 'text', length: 5 }]);
    const policy = model(4, 3);
    const hook = PromptAttention.create(layout, policy, { numHeads: 4, numKvHeads: 1, headDim: 16, blockM: 32, window: 50 });
    expect(hook.plan).toBeInstanceOf(MaskPlan);
    expect(hook.plan.layout).toBe(layout);
    expect(hook.plan.options).toMatchObject({ blockM: 32, window: 50 });
    expect(hook.layer(0)).toBe(hook.layer(0));
    expect(hook.layer(2).heads).toEqual(policy.layer(2));
    const plan = MaskPlan.build(layout);
    expect(PromptAttention.create(plan, policy, { numHeads: 4, numKvHeads: 2, headDim: 8 }).plan).toBe(plan);
  });

  it('the FLOP summary counts completed calls from brute-force visible pairs', () => {
    const segs = [[{ kind: 'text' as const, length: 7 }, { kind: 'image' as const, length: 90 }, { kind: 'text' as const, length: 3 }, { kind: 'image' as const, length: 40 }], [{ kind: 'image' as const, length: 33 }]];
    const options: RefOptions = { textKeys: true, bidirectionalImages: false, window: null };
    const layout = Layout.fromSegments(segs);
    const numHeads = 4, numKvHeads = 2, headDim = 16;
    const policy = model(numHeads, 5);
    const hook = PromptAttention.create(layout, policy, { numHeads, numKvHeads, headDim });
    const ref = refLayout(segs);
    const pairs = Object.fromEntries(HEAD_CATEGORIES.map((c) => [c, refVisiblePairs(ref, c, options)])) as Record<HeadCategory, number>;
    const dense = pairs.dense;
    const layerKept = (l: number) => policy.layer(l).reduce((a, c) => a + pairs[c], 0);

    expect(hook.summary()).toMatchObject({ calls: 0, denseFlops: 0, keptFlops: 0, savedFlops: 0, keptRatio: 1 });
    const { q, k, v } = randomQkv(9, layout.numTokens, numHeads, numKvHeads, headDim);
    hook.layer(1).forwardSync(q, k, v);
    hook.layer(2).forwardSync(q, k, v);
    hook.layer(2).forwardSync(q, k, v);
    const s = hook.summary();
    const perPair = 4 * headDim;
    expect(s.calls).toBe(3);
    expect(s.callsPerLayer).toEqual([0, 1, 2]);
    expect(s.denseFlops).toBe(3 * numHeads * dense * perPair);
    expect(s.keptFlops).toBe((layerKept(1) + 2 * layerKept(2)) * perPair);
    expect(s.savedFlops).toBe(s.denseFlops - s.keptFlops);
    expect(s.keptRatio).toBeCloseTo(s.keptFlops / s.denseFlops, 12);
    expect(s.keptRatio).toBeLessThan(1);
    expect(s.computedFlops).toBeGreaterThanOrEqual(s.keptFlops);
    expect(hook.layer(0).flops).toMatchObject({ keptRatio: 1, savedFlops: 0 });
    const m = hook.modelFlops();
    expect(m.keptFlops).toBe((numHeads * dense + layerKept(1) + layerKept(2)) * perPair);
  });

  it('rejects mismatched policies, options and tensors, and does not count failed calls', async () => {
    const layout = Layout.fromSegments([{ kind: 'text', length: 4 }, { kind: 'image', length: 20 }]);
    const policy = model(4, 1);
    const mk = (o: object) => () => PromptAttention.create(layout, policy, { numHeads: 4, numKvHeads: 2, headDim: 8, ...o });
    expect(mk({ numHeads: 8 })).toThrow(expect.objectContaining({ code: 'BAD_POLICY' }));
    expect(mk({ numKvHeads: 3 })).toThrow(expect.objectContaining({ code: 'BAD_GQA' }));
    expect(mk({ headDim: 0 })).toThrow(RangeError);
    expect(mk({ blockM: 12 })).toThrow(RangeError);
    expect(() => PromptAttention.create(MaskPlan.build(layout), policy, { numHeads: 4, numKvHeads: 2, headDim: 8, window: 4 })).toThrow(
      expect.objectContaining({ code: 'BAD_OPTION' }),
    );
    expect(() => PromptAttention.create({} as Layout, policy, { numHeads: 4, numKvHeads: 2, headDim: 8 })).toThrow(TypeError);
    expect(() => PromptAttention.create(layout, {} as HeadPolicy, { numHeads: 4, numKvHeads: 2, headDim: 8 })).toThrow(TypeError);

    const hook = mk({})();
    expect(() => hook.layer(3)).toThrow(RangeError);
    expect(() => hook.layer(-1)).toThrow(RangeError);
    const { q, k, v } = randomQkv(2, layout.numTokens, 4, 2, 8);
    expect(() => hook.layer(0).forwardSync(q.subarray(8), k, v)).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    await expect(hook.layer(1).forward(q, k, q)).rejects.toBeInstanceOf(BlindsightError);
    expect(hook.summary().calls).toBe(0);
    await hook.layer(1).forward(q, k, v);
    expect(hook.summary().calls).toBe(1);
  });
});
