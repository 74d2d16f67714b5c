/**
 * The ONNX Runtime peer (`--peer ort`): the same attention shapes through onnxruntime-node in this process.
 *  - dense causal: com.microsoft GroupQueryAttention (ORT's fused GQA prefill kernel), and
 *  - any BlindSight category: ONNX Attention (opset 23) with q_num_heads / kv_num_heads and the category's mask as an
 *    additive [S, S] bias (0 visible, -inf hidden) built by the addon from the same element rule.
 * Both compute (and ORT materialises) the whole S x S score matrix per head, so their time does not shrink with the
 * mask; the harness reports their useful GFLOP/s (visible pairs only) next to ours.
 * onnxruntime-node is a devDependency, loaded only here, on demand.
 */
import type * as OrtModule from 'onnxruntime-node';
import type { HeadCategory } from '../core/categories.js';
import { categoryCode } from '../core/categories.js';
import type { MaskPlan } from '../core/plan.js';
import { oneNodeModel } from './onnx_graph.js';

type Ort = typeof OrtModule;

export async function loadOrt(): Promise<Ort> {
  try {
    const mod = (await import('onnxruntime-node')) as Ort & { default?: Ort };
    return mod.InferenceSession ? mod : (mod.default as Ort);
  } catch (e) {
    throw new Error(
      `--peer ort needs onnxruntime-node, a devDependency of this package (${e instanceof Error ? e.message.split('\n')[0] : String(e)}). ` +
        'Install the dev dependencies (npm install in a checkout), or run without --peer.',
    );
  }
}

export interface PeerShape {
  numTokens: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  threads: number;
}

export interface PeerRunner {
  /** Runs once and returns the output. */
  run(): Promise<Float32Array>;
  release(): Promise<void>;
}

function sessionOptions(threads: number): OrtModule.InferenceSession.SessionOptions {
  return { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' };
}

/** GroupQueryAttention (com.microsoft), causal prefill of one sequence with no past. */
export async function gqaCausal(ort: Ort, s: PeerShape, q: Float32Array, k: Float32Array, v: Float32Array): Promise<PeerRunner> {
  const S = s.numTokens;
  const model = oneNodeModel({
    node: {
      opType: 'GroupQueryAttention',
      domain: 'com.microsoft',
      inputs: ['query', 'key', 'value', '', '', 'seqlens_k', 'total_sequence_length'],
      outputs: ['output'],
      attributes: [
        { name: 'num_heads', int: s.numHeads },
        { name: 'kv_num_heads', int: s.numKvHeads },
        { name: 'scale', float: 1 / Math.sqrt(s.headDim) },
      ],
    },
    inputs: [
      { name: 'query', type: 'float', shape: [1, S, s.numHeads * s.headDim] },
      { name: 'key', type: 'float', shape: [1, S, s.numKvHeads * s.headDim] },
      { name: 'value', type: 'float', shape: [1, S, s.numKvHeads * s.headDim] },
      { name: 'seqlens_k', type: 'int32', shape: [1] },
      { name: 'total_sequence_length', type: 'int32', shape: [] },
    ],
    outputs: [{ name: 'output', type: 'float', shape: [1, S, s.numHeads * s.headDim] }],
    opsets: { '': 21, 'com.microsoft': 1 },
  });
  const session = await ort.InferenceSession.create(model, sessionOptions(s.threads));
  const feeds = {
    query: new ort.Tensor('float32', q, [1, S, s.numHeads * s.headDim]),
    key: new ort.Tensor('float32', k, [1, S, s.numKvHeads * s.headDim]),
    value: new ort.Tensor('float32', v, [1, S, s.numKvHeads * s.headDim]),
    seqlens_k: new ort.Tensor('int32', Int32Array.of(S - 1), [1]),
    total_sequence_length: new ort.Tensor('int32', Int32Array.of(S), []),
  };
  return {
    async run() {
      const r = await session.run(feeds);
      return r.output.data as Float32Array;
    },
    release: () => session.release(),
  };
}

/** ONNX Attention (opset 23) over GQA heads with an additive mask: the category's mask as a dense [S, S] bias. */
export async function biasMasked(
  ort: Ort,
  s: PeerShape,
  plan: MaskPlan,
  category: HeadCategory,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
): Promise<PeerRunner> {
  const S = s.numTokens;
  const bias = new Float32Array(S * S);
  plan.handle.maskBias(categoryCode(category), 0, S, bias, Number.NEGATIVE_INFINITY);
  const model = oneNodeModel({
    node: {
      opType: 'Attention',
      inputs: ['Q', 'K', 'V', 'attn_mask'],
      outputs: ['Y'],
      attributes: [
        { name: 'q_num_heads', int: s.numHeads },
        { name: 'kv_num_heads', int: s.numKvHeads },
        { name: 'scale', float: 1 / Math.sqrt(s.headDim) },
      ],
    },
    inputs: [
      { name: 'Q', type: 'float', shape: [1, S, s.numHeads * s.headDim] },
      { name: 'K', type: 'float', shape: [1, S, s.numKvHeads * s.headDim] },
      { name: 'V', type: 'float', shape: [1, S, s.numKvHeads * s.headDim] },
      { name: 'attn_mask', type: 'float', shape: [S, S] },
    ],
    outputs: [{ name: 'Y', type: 'float', shape: [1, S, s.numHeads * s.headDim] }],
    opsets: { '': 23 },
  });
  const session = await ort.InferenceSession.create(model, sessionOptions(s.threads));
  const feeds = {
    Q: new ort.Tensor('float32', q, [1, S, s.numHeads * s.headDim]),
    K: new ort.Tensor('float32', k, [1, S, s.numKvHeads * s.headDim]),
    V: new ort.Tensor('float32', v, [1, S, s.numKvHeads * s.headDim]),
    attn_mask: new ort.Tensor('float32', bias, [S, S]),
  };
  return {
    async run() {
      const r = await session.run(feeds);
      return r.Y.data as Float32Array;
    },
    release: () => session.release(),
  };
}
