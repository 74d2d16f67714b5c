/**
 * Merging partial attention results: the (out, lse) of calls over disjoint key ranges of the same query rows (KV
 * shards, ring-attention steps) combine exactly into the result over all their keys (native/core/merge.h).
 */
import { DTYPE_CODES, type DType } from '../core/dtype.js';
import { BlindsightError, callNative, typeError } from '../core/errors.js';
import { native } from '../core/native.js';
import { dtypeOption, f32, headCount, positiveInt, tensor, threadsOption, type Tensor } from './args.js';
import type { AttentionResult } from './attention.js';

export interface PartialAttention {
  /** [rows, numHeads, headDim] of the merge's `dtype`, packed. */
  out: Tensor;
  /** [rows, numHeads]: the partial's log-sum-exp (an attention call with returnLse). */
  lse: Float32Array;
}

export interface MergeArgs {
  partials: readonly PartialAttention[];
  numHeads: number;
  headDim: number;
  /** Element type of the partials' out (default 'f32'). */
  dtype?: DType;
  /** Element type of the merged out (default 'f32'). */
  outDtype?: DType;
  /** Caller-owned merged output; may be one of the partials' out arrays (of the same type). */
  out?: Tensor;
  /** Caller-owned merged lse (implies returnLse); may be one of the partials' lse arrays. */
  lse?: Float32Array;
  /** Also return the merged log-sum-exp (to merge further). Default false. */
  returnLse?: boolean;
  threads?: number;
}

/**
 * lse = log(Σ e^lse_i), out = Σ e^(lse_i − lse) · out_i, in double precision against the largest lse: exact and
 * stable for any number of partials. A partial with lse −∞ (rows that saw no key of its shard) weighs nothing; rows
 * that saw no key in any partial get out 0 and lse −∞. Runs on the calling thread and the kernel pool.
 */
export function mergeAttention(args: MergeArgs & { outDtype?: 'f32' }): AttentionResult<Float32Array>;
export function mergeAttention(args: MergeArgs & { outDtype: 'f16' | 'bf16' }): AttentionResult<Uint16Array>;
export function mergeAttention(args: MergeArgs): AttentionResult<Tensor>;
export function mergeAttention(a: MergeArgs): AttentionResult<Tensor> {
  if (typeof a !== 'object' || a === null) throw typeError('mergeAttention expects an arguments object');
  const numHeads = headCount(a.numHeads, 'numHeads');
  const headDim = positiveInt(a.headDim, 'headDim', 65536, 'BAD_HEAD_DIM');
  const dtype = dtypeOption(a.dtype, 'dtype');
  const outDtype = dtypeOption(a.outDtype, 'outDtype');
  if (!Array.isArray(a.partials) || a.partials.length === 0)
    throw typeError('partials must be a non-empty array of { out, lse }');
  const first = a.partials[0] as PartialAttention | undefined;
  if (typeof first !== 'object' || first === null || !(first.lse instanceof Float32Array))
    throw typeError('partials[0].lse must be a Float32Array');
  if (first.lse.length % numHeads !== 0)
    throw new BlindsightError('SHAPE_MISMATCH', `partials[0].lse has ${first.lse.length} elements, not a multiple of numHeads (${numHeads})`);
  const rows = first.lse.length / numHeads;
  const partials = a.partials.map((p: unknown, i) => {
    if (typeof p !== 'object' || p === null) throw typeError(`partials[${i}] must be an { out, lse } object`);
    const { out, lse } = p as Record<string, unknown>;
    if (!(lse instanceof Float32Array)) throw typeError(`partials[${i}].lse must be a Float32Array`);
    if (lse.length !== rows * numHeads)
      throw new BlindsightError('SHAPE_MISMATCH', `partials[${i}].lse has ${lse.length} elements; partials[0] has ${rows * numHeads}`);
    return { out: tensor(out, dtype, `partials[${i}].out`, rows * numHeads * headDim, 'rows*numHeads*headDim', rows), lse };
  });
  const out = a.out === undefined ? undefined : tensor(a.out, outDtype, 'out', rows * numHeads * headDim, 'rows*numHeads*headDim', rows);
  const lse = a.lse === undefined ? undefined : f32(a.lse, 'lse', rows * numHeads, 'rows*numHeads', rows);
  const returnLse = a.lse !== undefined || a.returnLse === true;
  if (a.returnLse !== undefined && typeof a.returnLse !== 'boolean') throw typeError('returnLse must be a boolean');
  const r = callNative(() =>
    native().mergeAttentionSync({
      partials, numHeads, headDim, inputDtype: DTYPE_CODES[dtype], outputDtype: DTYPE_CODES[outDtype], out, lse,
      returnLse, threads: threadsOption(a.threads),
    }),
  );
  return r.lse ? { out: r.out, lse: r.lse } : { out: r.out };
}
