/**
 * The attention-mass pass (head calibration's measurement): for every query head and image query token, how the
 * softmax mass of its dense row splits over where the keys are. Computed natively in one streaming pass over the
 * plan's dense-category tiles, O(N) memory.
 */
import type { CpuIsa } from '../attention/attention.js';
import { HEAD_CATEGORIES, type HeadCategory } from '../core/categories.js';
import { BlindsightError, callNative, fromNative, typeError, show } from '../core/errors.js';
import { native, type NativeMassArgs } from '../core/native.js';
import { MaskPlan } from '../core/plan.js';
import { checkGqa, dtypeOption, isaOption, headCount, positiveInt, scaleOption, tensor, threadsOption } from '../attention/args.js';
import { DTYPE_CODES, type DType } from '../core/dtype.js';

/**
 * Where an image query's mass can go, in native order (native/core/mass_buckets.h). Every key of the base mask row is
 * in exactly one bucket:
 *  - `self`: q itself;
 *  - `ownSink` / `ownOther`: the rest of q's own image, sinks (its start token, or global sinks when the image opens
 *    the sequence) and the other tokens;
 *  - `textSink` / `text`: text tokens that are global sinks, and the other text tokens;
 *  - `imageSink` / `otherImage`: other images' sinks and their other tokens.
 */
export const MASS_BUCKETS = Object.freeze(['self', 'ownSink', 'ownOther', 'textSink', 'text', 'imageSink', 'otherImage'] as const);
export type MassBucket = (typeof MASS_BUCKETS)[number];
export const NUM_MASS_BUCKETS = MASS_BUCKETS.length;

/** f32, or raw f16 / bf16 bits in a Uint16Array (the same element types attention() takes). */
export type TensorDType = DType;

export interface AttentionMassArgs {
  /** [numTokens, numHeads, headDim] post-RoPE queries: a Float32Array, or a Uint16Array of f16 / bf16 bits. */
  q: Float32Array | Uint16Array;
  /** [numTokens, numKvHeads, headDim] post-RoPE keys, same element type as q. */
  k: Float32Array | Uint16Array;
  /** Element type of q and k (default 'f32'; required for Uint16Array inputs). */
  dtype?: TensorDType;
  /** The prompt's plan: its mask options (bidirectionalImages, window) define the dense row being measured. */
  plan: MaskPlan;
  numHeads: number;
  numKvHeads: number;
  /** Any head dim in [1, 1024]. */
  headDim: number;
  /** Score scale; default 1/sqrt(headDim). */
  scale?: number;
  /** Also return per-token fractions [numTokens, numHeads, 7] (text-query rows are NaN); or pass the buffer. */
  perToken?: boolean | Float32Array;
  threads?: number;
  isa?: CpuIsa;
}

export interface AttentionMassResult {
  /** Image query tokens in the layout (the rows measured for every head). */
  imageQueries: number;
  /** [numHeads, 7]: per head, the sum over image queries of each bucket's fraction of the row's mass. */
  sum: Float64Array;
  /** [numHeads, 7]: sum / imageQueries (zeros when the layout has no image token). */
  mean: Float64Array;
  perToken?: Float32Array;
}

/** The attention-mass pass, off the main thread. */
export async function attentionMass(args: AttentionMassArgs): Promise<AttentionMassResult> {
  const { nativeArgs, numHeads } = prepare(args);
  let r;
  try {
    r = await native().attentionMassAsync(nativeArgs);
  } catch (e) {
    throw fromNative(e);
  }
  return finish(r.perHead, r.imageQueries, numHeads, r.perToken ?? null);
}

/** The same computation on the calling thread. */
export function attentionMassSync(args: AttentionMassArgs): AttentionMassResult {
  const { nativeArgs, numHeads } = prepare(args);
  const r = callNative(() => native().attentionMassSync(nativeArgs));
  return finish(r.perHead, r.imageQueries, numHeads, r.perToken ?? null);
}

/**
 * The fraction of an image query's dense mass that a head of `category` keeps, given the query's bucket fractions
 * (7 numbers in MASS_BUCKETS order: one row of perToken, or a mean). Exact, because every category's mask is a union
 * of buckets (README, "Mask semantics", rule 5):
 *  - dense keeps everything;
 *  - sink keeps self, every sink (own image's, text global sinks, other images') and, with textKeys, text;
 *  - intra-image keeps the own image and, with textKeys, text (global sinks included, being text);
 *  - intra-image+sink keeps the own image, every sink and, with textKeys, text.
 */
export function retainedMass(f: ArrayLike<number>, category: HeadCategory, textKeys = true, offset = 0): number {
  const self = f[offset], ownSink = f[offset + 1], ownOther = f[offset + 2], textSink = f[offset + 3];
  const text = f[offset + 4], imageSink = f[offset + 5];
  const t = textKeys ? text : 0;
  switch (category) {
    case 'dense':
      return self + ownSink + ownOther + textSink + text + imageSink + f[offset + 6];
    case 'sink':
      return self + ownSink + textSink + imageSink + t;
    case 'intra-image':
      return self + ownSink + ownOther + (textKeys ? textSink : 0) + t;
    case 'intra-image+sink':
      return self + ownSink + ownOther + textSink + imageSink + t;
    default:
      throw new BlindsightError('UNKNOWN_CATEGORY', `unknown head category ${show(category)}; expected one of ${HEAD_CATEGORIES.join(', ')}`);
  }
}

/** The four coarse buckets of a 7-bucket fraction row: own image, sinks outside it, text, other images. */
export function coarseMass(f: ArrayLike<number>, offset = 0): { ownImage: number; sinksOutside: number; text: number; otherImages: number } {
  return {
    ownImage: f[offset] + f[offset + 1] + f[offset + 2],
    sinksOutside: f[offset + 3] + f[offset + 5],
    text: f[offset + 4],
    otherImages: f[offset + 6],
  };
}

function finish(sum: Float64Array, imageQueries: number, numHeads: number, perToken: Float32Array | null): AttentionMassResult {
  const mean = new Float64Array(numHeads * NUM_MASS_BUCKETS);
  if (imageQueries > 0) for (let i = 0; i < mean.length; i++) mean[i] = sum[i] / imageQueries;
  return perToken ? { imageQueries, sum, mean, perToken } : { imageQueries, sum, mean };
}

function prepare(a: AttentionMassArgs): { nativeArgs: NativeMassArgs; numHeads: number } {
  if (typeof a !== 'object' || a === null) throw typeError('attentionMass expects an arguments object');
  if (!(a.plan instanceof MaskPlan)) throw typeError('plan must be a MaskPlan (see MaskPlan.build)');
  const numHeads = headCount(a.numHeads, 'numHeads');
  const numKvHeads = headCount(a.numKvHeads, 'numKvHeads');
  const headDim = positiveInt(a.headDim, 'headDim', 1024, 'BAD_HEAD_DIM');
  checkGqa(numHeads, numKvHeads);
  const dtype = dtypeOption(a.dtype, 'dtype');
  if (!(dtype in DTYPE_CODES)) throw typeError(`dtype must be 'f32', 'f16' or 'bf16', got ${String(dtype)}`);
  const n = a.plan.layout.numTokens;
  const q = tensor(a.q, dtype, 'q', n * numHeads * headDim, 'numTokens*numHeads*headDim', n);
  const k = tensor(a.k, dtype, 'k', n * numKvHeads * headDim, 'numTokens*numKvHeads*headDim', n);
  const perTokenLen = n * numHeads * NUM_MASS_BUCKETS;
  let perToken: Float32Array | undefined;
  if (a.perToken instanceof Float32Array) {
    if (a.perToken.length !== perTokenLen)
      throw new BlindsightError('SHAPE_MISMATCH', `perToken has ${a.perToken.length} elements; expected numTokens*numHeads*7 = ${perTokenLen}`);
    perToken = a.perToken;
  } else if (a.perToken !== undefined && a.perToken !== false && a.perToken !== true) {
    throw typeError('perToken must be a boolean or a Float32Array');
  }
  const scale = scaleOption(a.scale, headDim);
  const threads = threadsOption(a.threads);
  const isa = isaOption(a.isa);
  return {
    nativeArgs: {
      plan: a.plan.handle, q, k, inputDtype: DTYPE_CODES[dtype], numHeads, numKvHeads, headDim, scale, perToken,
      returnPerToken: a.perToken === true, threads, isa,
    },
    numHeads,
  };
}
