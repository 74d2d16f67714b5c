/**
 * FLOP accounting for a head policy on a prompt: attention FLOPs dense vs with the policy, and, given a model's
 * dimensions, the whole-prefill saving (the paper's headline metric).
 *
 * What is counted (a multiply-add is 2 FLOPs; N = prompt tokens; per layer):
 *  - projections: Q 2·N·hidden·(heads·headDim), K and V 2·N·hidden·(kvHeads·headDim) each, O 2·N·(heads·headDim)·hidden;
 *  - MLP: gated (SwiGLU / GeGLU: gate, up, down) 3 · 2·N·hidden·intermediate; plain (up, down) 2 · 2·N·hidden·intermediate;
 *  - attention: 4·headDim per visible (query, key) pair per query head (2·headDim for QK^T, 2·headDim for PV), with the
 *    visible pairs of each head's category from MaskPlan.stats (exact counts, not blocks).
 * Not counted: embeddings, the LM head, norms, RoPE, softmax exponentials, biases, the vision encoder. Every layer is
 * counted as full (causal, or the plan's mask options) attention; a model's own sliding-window layers (Gemma 3's
 * local layers) are not applied unless the caller passes a plan per layer (`planForLayer`).
 */
import { BlindsightError, typeError, rangeError, show } from '../core/errors.js';
import { Layout } from '../core/layout.js';
import { MaskPlan, type MaskOptions } from '../core/plan.js';
import { HeadPolicy } from '../core/policy.js';
import type { TemplateName } from '../core/templates.js';

export interface ModelShape {
  name: string;
  numLayers: number;
  hiddenSize: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  /** Gated MLP with three matrices (SwiGLU, GeGLU). */
  gatedMlp: boolean;
  /** Softmax scale when it is not 1/sqrt(headDim) (Gemma 3: query_pre_attn_scalar^-0.5). */
  scale?: number;
  /** The model's own sliding window on local layers, and every how many layers one is global (informational). */
  slidingWindow?: number;
  slidingWindowPattern?: number;
  /** Whether tokens of one image attend to each other bidirectionally (Gemma 3). */
  bidirectionalImages: boolean;
  template: TemplateName;
  /** Where the numbers come from. */
  source: string;
}

/**
 * Text-decoder dimensions from the published Hugging Face configs (config.json, or its text_config):
 *  - Qwen/Qwen2-VL-7B-Instruct and Qwen/Qwen2.5-VL-7B-Instruct: hidden_size 3584, intermediate_size 18944,
 *    num_hidden_layers 28, num_attention_heads 28, num_key_value_heads 4 (head dim 3584/28 = 128; q_proj 3584->3584,
 *    k_proj 3584->512 in the published module dumps).
 *  - Qwen/Qwen2.5-VL-32B-Instruct: its decoder is Qwen2.5-32B's (Qwen/Qwen2.5-32B config.json): hidden_size 5120,
 *    intermediate_size 27648, num_hidden_layers 64, num_attention_heads 40, num_key_value_heads 8 (head dim 128).
 *  - google/gemma-3-12b-it text_config: hidden_size 3840, intermediate_size 15360, num_hidden_layers 48,
 *    num_attention_heads 16, num_key_value_heads 8, head_dim 256, query_pre_attn_scalar 256, sliding_window 1024,
 *    sliding_window_pattern 6.
 *  - google/gemma-3-27b-it text_config: hidden_size 5376, intermediate_size 21504, num_hidden_layers 62,
 *    num_attention_heads 32, num_key_value_heads 16, head_dim 128, query_pre_attn_scalar 168, sliding_window 1024,
 *    sliding_window_pattern 6.
 *  (The Gemma 3 text_configs as mirrored in AI-Hypercomputer/maxtext, MaxText/utils/ckpt_conversion/utils/
 *  hf_model_configs.py.)
 */
export const MODEL_SHAPES: Readonly<Record<'qwen2-vl-7b' | 'qwen2.5-vl-7b' | 'qwen2.5-vl-32b' | 'gemma-3-12b' | 'gemma-3-27b', ModelShape>> = Object.freeze({
  'qwen2-vl-7b': {
    name: 'Qwen2-VL-7B', numLayers: 28, hiddenSize: 3584, numHeads: 28, numKvHeads: 4, headDim: 128, intermediateSize: 18944,
    gatedMlp: true, bidirectionalImages: false, template: 'qwen2-vl', source: 'Qwen/Qwen2-VL-7B-Instruct config.json',
  },
  'qwen2.5-vl-7b': {
    name: 'Qwen2.5-VL-7B', numLayers: 28, hiddenSize: 3584, numHeads: 28, numKvHeads: 4, headDim: 128, intermediateSize: 18944,
    gatedMlp: true, bidirectionalImages: false, template: 'qwen2.5-vl', source: 'Qwen/Qwen2.5-VL-7B-Instruct config.json',
  },
  'qwen2.5-vl-32b': {
    name: 'Qwen2.5-VL-32B', numLayers: 64, hiddenSize: 5120, numHeads: 40, numKvHeads: 8, headDim: 128, intermediateSize: 27648,
    gatedMlp: true, bidirectionalImages: false, template: 'qwen2.5-vl', source: 'Qwen/Qwen2.5-VL-32B-Instruct config.json (Qwen2.5-32B decoder)',
  },
  'gemma-3-12b': {
    name: 'Gemma 3 12B', numLayers: 48, hiddenSize: 3840, numHeads: 16, numKvHeads: 8, headDim: 256, intermediateSize: 15360,
    gatedMlp: true, scale: 1 / Math.sqrt(256), slidingWindow: 1024, slidingWindowPattern: 6, bidirectionalImages: true,
    template: 'gemma3', source: 'google/gemma-3-12b-it config.json text_config',
  },
  'gemma-3-27b': {
    name: 'Gemma 3 27B', numLayers: 62, hiddenSize: 5376, numHeads: 32, numKvHeads: 16, headDim: 128, intermediateSize: 21504,
    gatedMlp: true, scale: 1 / Math.sqrt(168), slidingWindow: 1024, slidingWindowPattern: 6, bidirectionalImages: true,
    template: 'gemma3', source: 'google/gemma-3-27b-it config.json text_config',
  },
});

export type ModelName = keyof typeof MODEL_SHAPES;

export interface PolicyFlopsOptions {
  /** Mask options for the plan when a Layout is given (default: the plan defaults, or the model's bidirectionalImages). */
  mask?: MaskOptions;
  /** A plan per layer (e.g. a windowed plan for a model's local layers); overrides the layout's plan. */
  planForLayer?: (layer: number) => MaskPlan;
}

export interface PolicyFlops {
  numTokens: number;
  /** Visible (query, key) pairs summed over every layer and head: dense (the base mask) and with the policy. */
  pairs: { dense: number; policy: number; keptRatio: number };
  perLayer: { layer: number; densePairs: number; policyPairs: number }[];
  /** With a model shape: attention FLOPs (4·headDim per pair per head). */
  attention?: { dense: number; policy: number; saved: number; keptRatio: number };
  /** With a model shape: the whole prefill (projections + MLP + attention). */
  prefill?: {
    projections: number;
    mlp: number;
    attentionDense: number;
    attentionPolicy: number;
    dense: number;
    policy: number;
    /** Fraction of the dense prefill FLOPs the policy saves. */
    saving: number;
    /** dense / policy: the FLOP-bound prefill speedup. */
    speedup: number;
    /** Share of the dense prefill spent in attention. */
    attentionShare: number;
  };
}

/** Attention and (given a model) whole-prefill FLOPs of a policy on one prompt. */
export function policyFlops(
  policy: HeadPolicy,
  layout: Layout | MaskPlan,
  model?: ModelShape | ModelName,
  options: PolicyFlopsOptions = {},
): PolicyFlops {
  if (!(policy instanceof HeadPolicy)) throw typeError('policy must be a HeadPolicy');
  const shape = typeof model === 'string' ? (Object.hasOwn(MODEL_SHAPES, model) ? MODEL_SHAPES[model as ModelName] : undefined) : model;
  if (typeof model === 'string' && !shape)
    throw new BlindsightError('UNKNOWN_MODEL', `unknown model ${show(model)}; built-in: ${Object.keys(MODEL_SHAPES).join(', ')}`);
  if (shape) checkShape(shape);
  if (shape && (shape.numLayers !== policy.numLayers || shape.numHeads !== policy.numHeads))
    throw new BlindsightError(
      'SHAPE_MISMATCH',
      `the policy is ${policy.numLayers} layers x ${policy.numHeads} heads but ${shape.name} has ${shape.numLayers} x ${shape.numHeads}`,
    );
  const base =
    layout instanceof MaskPlan
      ? layout
      : layout instanceof Layout
        ? MaskPlan.build(layout, { bidirectionalImages: shape?.bidirectionalImages, ...options.mask })
        : (() => { throw typeError('layout must be a Layout or a MaskPlan'); })();
  const N = base.layout.numTokens;
  const perLayer: PolicyFlops['perLayer'] = [];
  let densePairs = 0, policyPairs = 0;
  for (let l = 0; l < policy.numLayers; l++) {
    const plan = options.planForLayer ? options.planForLayer(l) : base;
    if (!(plan instanceof MaskPlan) || plan.layout.numTokens !== N)
      throw new BlindsightError('LAYOUT_MISMATCH', `planForLayer(${l}) must return a MaskPlan of the same ${N}-token layout`);
    const d = plan.stats('dense').perCategory[0]!.visiblePairs * policy.numHeads;
    const p = plan.stats(policy.layer(l)).visiblePairs;
    perLayer.push({ layer: l, densePairs: d, policyPairs: p });
    densePairs += d;
    policyPairs += p;
  }
  const out: PolicyFlops = { numTokens: N, pairs: { dense: densePairs, policy: policyPairs, keptRatio: policyPairs / densePairs }, perLayer };
  if (!shape) return out;

  const perPair = 4 * shape.headDim;
  const attentionDense = perPair * densePairs;
  const attentionPolicy = perPair * policyPairs;
  const qDim = shape.numHeads * shape.headDim, kvDim = shape.numKvHeads * shape.headDim;
  const projections = shape.numLayers * 2 * N * shape.hiddenSize * (qDim + 2 * kvDim + qDim);
  const mlp = shape.numLayers * (shape.gatedMlp ? 3 : 2) * 2 * N * shape.hiddenSize * shape.intermediateSize;
  const dense = projections + mlp + attentionDense;
  const withPolicy = projections + mlp + attentionPolicy;
  out.attention = { dense: attentionDense, policy: attentionPolicy, saved: attentionDense - attentionPolicy, keptRatio: attentionPolicy / attentionDense };
  out.prefill = {
    projections,
    mlp,
    attentionDense,
    attentionPolicy,
    dense,
    policy: withPolicy,
    saving: (dense - withPolicy) / dense,
    speedup: dense / withPolicy,
    attentionShare: attentionDense / dense,
  };
  return out;
}

function checkShape(s: ModelShape): void {
  if (typeof s !== 'object' || s === null) throw typeError('model must be a ModelShape or a model name');
  for (const k of ['numLayers', 'hiddenSize', 'numHeads', 'numKvHeads', 'headDim', 'intermediateSize'] as const)
    if (!Number.isSafeInteger(s[k]) || s[k] < 1) throw rangeError(`model.${k} must be a positive integer, got ${String(s[k])}`);
}
