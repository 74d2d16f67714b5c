import { categoryCodes, type HeadCategory } from '../core/categories.js';
import { bool, checkGqa, dtypeOption, f32, isaOption, positiveInt, scaleOption, tensor, threadsOption, type CpuIsa, type Tensor, headCount } from './args.js';
import { DTYPE_CODES, type DType } from '../core/dtype.js';
import { BlindsightError, callNative, fromNative, typeError, rangeError, show } from '../core/errors.js';
import { MaskPlan } from '../core/plan.js';
import { KvPack } from './kv_pack.js';
import { native, type NativeAttentionArgs, type NativeAttentionResult, type NativeProblemArgs } from '../core/native.js';
import { resolveRanges, resolveStrides, tensorExtent, byteSpan, type CallStrides, type TensorStrides, type TokenRange, type TokenRanges } from './ranges.js';
import { requestedBackend, resolveBackend, type Backend } from '../backends/backends.js';
import { cudaPlanHandle, requireCuda } from '../backends/cuda.js';

export type { CpuIsa, Tensor, CallStrides, TensorStrides, TokenRange, TokenRanges };

export interface AttentionArgs {
  /** [query rows, numHeads, headDim], token-major (or at `strides.q`); query rows = numTokens unless `queries`. */
  q: Tensor;
  /** [key rows, numKvHeads, headDim] (or at `strides.k`); key rows = numTokens unless `keys`. */
  k: Tensor;
  /** [key rows, numKvHeads, headDim] (or at `strides.v`). */
  v: Tensor;
  /** Element type of q, k and v (default 'f32'; 'f16' and 'bf16' take Uint16Arrays). Accumulation is always f32. */
  dtype?: DType;
  /** Element type of out (default 'f32'). lse is always f32. */
  outDtype?: DType;
  plan: MaskPlan;
  /** One category per query head. */
  heads: readonly HeadCategory[];
  numHeads: number;
  numKvHeads: number;
  /** Multiple of 8 in [8, 512]. */
  headDim: number;
  /** Score scale; default 1/sqrt(headDim). */
  scale?: number;
  /** Also return the natural-log log-sum-exp per (token, head). */
  returnLse?: boolean;
  /**
   * Caller-owned output [query rows, numHeads, headDim] of outDtype (or at `strides.out`); must not overlap q, k or
   * v. Passing one is the fast path for repeated calls: no fresh memory per call.
   */
  out?: Tensor;
  /** Caller-owned LSE output [query rows, numHeads], contiguous (implies returnLse). */
  lse?: Float32Array;
  /**
   * The query tokens this call computes, in layout coordinates (default: all). q, out and lse hold their rows, in
   * layout order. One [begin, end] range over the packed layout, or one per sequence. The mask is the plan's: a
   * prompt computed in chunks of queries gives the same rows as one whole-prompt call.
   */
  queries?: TokenRanges;
  /**
   * The key tokens this call attends to (default: all); k and v hold their rows. Over part of the keys (a KV shard)
   * the result is partial: combine the partials of disjoint key ranges with mergeAttention (they need returnLse). A
   * row that sees no key of the range has out 0 and lse -Infinity.
   */
  keys?: TokenRanges;
  /**
   * Element strides of tensors not laid out packed token-major, e.g. a head-major KV cache { token: headDim,
   * head: capacity * headDim } read in place. A strided tensor may be longer than the span its strides reach.
   */
  strides?: CallStrides;
  /** Threads for this call (default: the pool's size, see setThreads). */
  threads?: number;
  /** Force a CPU kernel ISA level (testing, benchmarking). Default: BLINDSIGHT_ISA, else the best the CPU has. */
  isa?: CpuIsa;
  /**
   * Where to compute: 'cpu', 'cuda' (host arrays are copied to the GPU and back), or 'auto' (CUDA when a usable GPU
   * and a kernel for this head dim are present, else CPU). Default: BLINDSIGHT_BACKEND, else 'auto'. `isa` and
   * `threads` apply to the CPU backend only; setting `isa` keeps 'auto' on the CPU. See listBackends().
   */
  backend?: Backend;
  /**
   * The K/V copy to keep between calls of one layer prefilled in micro-batches against a token-major cache of several
   * KV heads: each key row is copied once instead of on every call that reads it (see KvPack for the promise it takes).
   * CPU backend only.
   */
  kvPack?: KvPack;
}

export interface AttentionResult<Out extends Tensor = Float32Array> {
  out: Out;
  lse?: Float32Array;
  /**
   * CPU backend: the (query row, key) pairs the kernel's products computed, over all heads — the call's real work
   * (masked lanes of the vectors it ran included), to compare with the mask's visible pairs.
   */
  computedPairs?: number;
  /**
   * CPU backend: wall time of the call's native phases — the preparation (work order, tile masks, the K/V copy and
   * its finiteness scan) and the kernel. The rest of a call's time is argument checks, staging and output allocation.
   */
  timing?: { prepareMs: number; kernelMs: number };
}

/** Block-sparse prefill attention, computed off the main thread. Rejects with a BlindsightError on bad input. */
export async function attention(args: AttentionArgs & { outDtype?: 'f32' }): Promise<AttentionResult<Float32Array>>;
export async function attention(args: AttentionArgs & { outDtype: 'f16' | 'bf16' }): Promise<AttentionResult<Uint16Array>>;
export async function attention(args: AttentionArgs): Promise<AttentionResult<Tensor>>;
export async function attention(args: AttentionArgs): Promise<AttentionResult<Tensor>> {
  const { nativeArgs, backend } = prepare(args);
  try {
    const r = backend === 'cuda' ? await requireCuda().addon.attentionAsync(cudaArgs(args.plan, nativeArgs)) : await native().attentionAsync(nativeArgs);
    return result(r);
  } catch (e) {
    throw fromNative(e);
  }
}

/** The same computation on the calling thread (blocks the event loop for its duration). */
export function attentionSync(args: AttentionArgs & { outDtype?: 'f32' }): AttentionResult<Float32Array>;
export function attentionSync(args: AttentionArgs & { outDtype: 'f16' | 'bf16' }): AttentionResult<Uint16Array>;
export function attentionSync(args: AttentionArgs): AttentionResult<Tensor>;
export function attentionSync(args: AttentionArgs): AttentionResult<Tensor> {
  const { nativeArgs, backend } = prepare(args);
  return result(
    backend === 'cuda'
      ? callNative(() => requireCuda().addon.attentionSync(cudaArgs(args.plan, nativeArgs)))
      : callNative(() => native().attentionSync(nativeArgs)),
  );
}

function result(r: NativeAttentionResult): AttentionResult<Tensor> {
  const out: AttentionResult<Tensor> = r.lse ? { out: r.out, lse: r.lse } : { out: r.out };
  if (r.computedPairs !== undefined) out.computedPairs = r.computedPairs;
  if (r.timing !== undefined) out.timing = r.timing;
  return out;
}

// The CUDA module takes the same tensors with its own plan handle, and the element types instead of CPU settings.
function cudaArgs(plan: MaskPlan, a: NativeAttentionArgs): NativeProblemArgs {
  const { threads: _threads, isa: _isa, kvPack: _kvPack, ...problem } = a;
  return { ...problem, plan: cudaPlanHandle(requireCuda().addon, plan) };
}

function prepare(a: AttentionArgs): { nativeArgs: NativeAttentionArgs; backend: 'cpu' | 'cuda' } {
  if (typeof a !== 'object' || a === null) throw typeError('attention expects an arguments object');
  if (!(a.plan instanceof MaskPlan)) throw typeError('plan must be a MaskPlan (see MaskPlan.build)');
  const numHeads = headCount(a.numHeads, 'numHeads');
  const numKvHeads = headCount(a.numKvHeads, 'numKvHeads');
  const headDim = positiveInt(a.headDim, 'headDim', 512, 'BAD_HEAD_DIM');
  if (headDim % 8 !== 0) throw rangeError(`headDim must be a multiple of 8 in [8, 512], got ${headDim}`, 'BAD_HEAD_DIM');
  checkGqa(numHeads, numKvHeads);
  if (!Array.isArray(a.heads)) throw typeError('heads must be an array with one category per query head');
  if (a.heads.length !== numHeads)
    throw new BlindsightError('SHAPE_MISMATCH', `heads has ${a.heads.length} entries; numHeads is ${numHeads}`);
  const heads = categoryCodes(a.heads, 'heads');

  const layout = a.plan.layout;
  const n = layout.numTokens;
  const queries = resolveRanges(a.queries, layout, 'queries');
  const keys = resolveRanges(a.keys, layout, 'keys');
  if (a.strides !== undefined && (typeof a.strides !== 'object' || a.strides === null))
    throw typeError(`strides must be an object of { token, head } per tensor, got ${show(a.strides)}`);
  const given = a.strides ?? {};
  const strides = {
    q: resolveStrides(given.q, queries.rows, numHeads, headDim, 'q'),
    k: resolveStrides(given.k, keys.rows, numKvHeads, headDim, 'k'),
    v: resolveStrides(given.v, keys.rows, numKvHeads, headDim, 'v'),
    out: resolveStrides(given.out, queries.rows, numHeads, headDim, 'out'),
  };
  if (given.out !== undefined && a.out === undefined)
    throw new BlindsightError('BAD_OPTION', 'strides.out applies to a caller-owned out only; pass out too');
  const qLen = tensorExtent(queries.rows, numHeads, headDim, strides.q);
  const kLen = tensorExtent(keys.rows, numKvHeads, headDim, strides.k);
  const vLen = tensorExtent(keys.rows, numKvHeads, headDim, strides.v);
  const outLen = tensorExtent(queries.rows, numHeads, headDim, strides.out);
  for (const len of [qLen, kLen, vLen, outLen])
    if (!Number.isSafeInteger(len * 4) || len > 2 ** 32 - 1)
      throw new BlindsightError('SIZE_OVERFLOW', `a tensor of ${len} elements is more than a Float32Array can hold`);
  const dtype = dtypeOption(a.dtype, 'dtype');
  const outDtype = dtypeOption(a.outDtype, 'outDtype');
  const rowsOf = (r: typeof queries, what: string) => (r.native ? `${what} rows (${r.rows})` : 'numTokens');
  const qForm = `${rowsOf(queries, 'query')}*numHeads*headDim`, kvForm = `${rowsOf(keys, 'key')}*numKvHeads*headDim`;
  const stridedForm = (name: string) => `the span of strides.${name}`;
  const q = tensorArg(a.q, dtype, 'q', qLen, given.q ? stridedForm('q') : qForm, n, given.q !== undefined);
  const k = tensorArg(a.k, dtype, 'k', kLen, given.k ? stridedForm('k') : kvForm, n, given.k !== undefined);
  const v = tensorArg(a.v, dtype, 'v', vLen, given.v ? stridedForm('v') : kvForm, n, given.v !== undefined);
  // Outputs the caller leaves out are allocated by the addon, from recycled native memory (no fresh pages to fault in).
  const out = a.out === undefined ? undefined : tensorArg(a.out, outDtype, 'out', outLen, given.out ? stridedForm('out') : qForm, n, given.out !== undefined);
  const returnLse = a.lse !== undefined || bool(a.returnLse, 'returnLse');
  const lse = a.lse === undefined ? undefined : f32(a.lse, 'lse', queries.rows * numHeads, `${rowsOf(queries, 'query')}*numHeads`, n);
  const spans: [string, ArrayBufferView, number][] = [['q', q, qLen], ['k', k, kLen], ['v', v, vLen]];
  for (const [name, o, len] of [['out', out, outLen], ['lse', lse, lse?.length ?? 0]] as const) {
    if (!o) continue;
    for (const [iname, i, ilen] of spans)
      if (overlapsSpan(o, len, i, ilen)) throw new BlindsightError('ALIASED_OUTPUT', `${name} overlaps ${iname}; pass a separate output buffer`);
  }
  if (lse && out && overlapsSpan(out, outLen, lse, lse.length)) throw new BlindsightError('ALIASED_OUTPUT', 'lse overlaps out');

  const scale = scaleOption(a.scale, headDim);
  const threads = threadsOption(a.threads);
  if (a.kvPack !== undefined && !(a.kvPack instanceof KvPack)) throw typeError(`kvPack must be a KvPack, got ${show(a.kvPack)}`);
  const kvPack = a.kvPack?.handle;  // DISPOSED before any work
  const cpuOnly = a.isa !== undefined ? 'isa' : kvPack ? 'kvPack' : undefined;
  const backend = resolveBackend(requestedBackend(a.backend), { headDim, cpuOnly });
  const isa = isaOption(a.isa);
  return {
    nativeArgs: {
      plan: a.plan.handle, q, k, v, out, lse, returnLse, heads, numHeads, numKvHeads, headDim, scale,
      inputDtype: DTYPE_CODES[dtype], outputDtype: DTYPE_CODES[outDtype], threads, isa, kvPack,
      queryRanges: queries.native, keyRanges: keys.native,
      qStrides: given.q && strides.q, kStrides: given.k && strides.k, vStrides: given.v && strides.v, outStrides: given.out && strides.out,
    },
    backend,
  };
}

// A tensor argument: exactly `expected` elements, or (strided) at least that many.
function tensorArg(x: unknown, dtype: DType, name: string, expected: number, formula: string, n: number, strided: boolean): Tensor {
  if (!strided) return tensor(x, dtype, name, expected, formula, n);
  const t = tensor(x, dtype, name, -1, formula, n, expected);
  return t;
}

function overlapsSpan(a: ArrayBufferView, aLen: number, b: ArrayBufferView, bLen: number): boolean {
  if (a.buffer !== b.buffer || aLen === 0 || bLen === 0) return false;
  const [a0, a1] = byteSpan(a, aLen), [b0, b1] = byteSpan(b, bLen);
  return a0 < b1 && b0 < a1;
}
