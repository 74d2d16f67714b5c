import { describe, expect, it } from 'vitest';
import { HeadPolicy, Layout, MaskPlan } from '../../dist/index.js';
import { MODEL_SHAPES, policyFlops, type ModelShape } from '../../dist/report/index.js';

// The hand-computed example of docs/flops.md ("FLOP accounting"): every number below is worked out there by hand.
const layout = Layout.fromSegments([
  { kind: 'text', length: 2 },
  { kind: 'image', length: 4 },
  { kind: 'image', length: 4 },
  { kind: 'text', length: 2 },
]);
const toy: ModelShape = {
  name: 'toy', numLayers: 2, hiddenSize: 8, numHeads: 2, numKvHeads: 1, headDim: 4, intermediateSize: 16,
  gatedMlp: true, bidirectionalImages: false, template: 'qwen2-vl', source: 'README example',
};
const policy = new HeadPolicy([['dense', 'dense'], ['sink', 'intra-image']]);

describe('policyFlops', () => {
  it('reproduces the README example exactly', () => {
    const plan = MaskPlan.build(layout);
    expect(plan.stats(['dense', 'sink', 'intra-image', 'intra-image+sink']).perCategory.map((c) => c.visiblePairs)).toEqual([78, 60, 62, 66]);
    const f = policyFlops(policy, layout, toy);
    expect(f.pairs).toEqual({ dense: 312, policy: 278, keptRatio: 278 / 312 });
    expect(f.perLayer).toEqual([{ layer: 0, densePairs: 156, policyPairs: 156 }, { layer: 1, densePairs: 156, policyPairs: 122 }]);
    expect(f.attention).toEqual({ dense: 4992, policy: 4448, saved: 544, keptRatio: 4448 / 4992 });
    expect(f.prefill).toEqual({
      projections: 9216, mlp: 18432, attentionDense: 4992, attentionPolicy: 4448, dense: 32640, policy: 32096,
      saving: 544 / 32640, speedup: 32640 / 32096, attentionShare: 4992 / 32640,
    });
    // Without a model: pairs only.
    expect(policyFlops(policy, plan).attention).toBeUndefined();
  });

  it('ships the published model dimensions', () => {
    expect(Object.keys(MODEL_SHAPES).sort()).toEqual(['gemma-3-12b', 'gemma-3-27b', 'qwen2-vl-7b', 'qwen2.5-vl-32b', 'qwen2.5-vl-7b']);
    expect(MODEL_SHAPES['qwen2-vl-7b']).toMatchObject({ numLayers: 28, hiddenSize: 3584, numHeads: 28, numKvHeads: 4, headDim: 128, intermediateSize: 18944 });
    expect(MODEL_SHAPES['qwen2.5-vl-32b']).toMatchObject({ numLayers: 64, hiddenSize: 5120, numHeads: 40, numKvHeads: 8, headDim: 128, intermediateSize: 27648 });
    expect(MODEL_SHAPES['gemma-3-12b']).toMatchObject({ numLayers: 48, hiddenSize: 3840, numHeads: 16, numKvHeads: 8, headDim: 256, intermediateSize: 15360 });
    expect(MODEL_SHAPES['gemma-3-27b']).toMatchObject({ numLayers: 62, hiddenSize: 5376, numHeads: 32, numKvHeads: 16, headDim: 128, intermediateSize: 21504 });
    expect(MODEL_SHAPES['gemma-3-27b'].scale).toBeCloseTo(168 ** -0.5, 15);
    for (const m of Object.values(MODEL_SHAPES)) expect(m.numHeads % m.numKvHeads).toBe(0);
  });

  it('a real model on a long prompt: the saving is bounded by the attention share', () => {
    const prompt = Layout.fromSegments([{ kind: 'text', length: 64 }, ...Array.from({ length: 8 }, () => [{ kind: 'image' as const, length: 1024 }, { kind: 'text' as const, length: 24 }]).flat()]);
    const m = MODEL_SHAPES['qwen2-vl-7b'];
    const allSink = HeadPolicy.uniform(m.numLayers, m.numHeads, 'sink');
    const f = policyFlops(allSink, prompt, 'qwen2-vl-7b');
    expect(f.prefill!.saving).toBeGreaterThan(0);
    expect(f.prefill!.saving).toBeLessThan(f.prefill!.attentionShare);
    expect(policyFlops(HeadPolicy.uniform(m.numLayers, m.numHeads, 'dense'), prompt, m).prefill!.saving).toBe(0);
    // Gemma's bidirectional images make the dense baseline larger than the causal one.
    const g = MODEL_SHAPES['gemma-3-12b'];
    const dense = HeadPolicy.uniform(g.numLayers, g.numHeads, 'dense');
    const causal = policyFlops(dense, prompt, g, { mask: { bidirectionalImages: false } }).pairs.dense;
    expect(policyFlops(dense, prompt, g).pairs.dense).toBeGreaterThan(causal);
    // A plan per layer (e.g. a windowed one for local layers).
    const windowed = MaskPlan.build(prompt, { window: 1024, bidirectionalImages: true });
    const mixed = policyFlops(dense, prompt, g, { planForLayer: (l) => ((l + 1) % 6 === 0 ? MaskPlan.build(prompt, { bidirectionalImages: true }) : windowed) });
    expect(mixed.pairs.dense).toBeLessThan(policyFlops(dense, prompt, g).pairs.dense);
  });

  it('rejects a policy of another shape, unknown models and bad arguments', () => {
    expect(() => policyFlops(policy, layout, 'qwen2-vl-7b')).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    expect(() => policyFlops(policy, layout, 'llama' as never)).toThrow(expect.objectContaining({ code: 'UNKNOWN_MODEL' }));
    expect(() => policyFlops(policy, {} as never)).toThrow(TypeError);
    expect(() => policyFlops(policy, layout, { ...toy, hiddenSize: 0 })).toThrow(RangeError);
    const other = MaskPlan.build(Layout.fromSegments([{ kind: 'text', length: 3 }]));
    expect(() => policyFlops(policy, layout, toy, { planForLayer: () => other })).toThrow(expect.objectContaining({ code: 'LAYOUT_MISMATCH' }));
  });
});
