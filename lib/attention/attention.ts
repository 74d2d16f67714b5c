import { categoryCodes, type HeadCategory } from '../core/categories.js';
import { bool, checkGqa, dtypeOption, f32, isaOption, overlaps, positiveInt, scaleOption, tensor, threadsOption, type CpuIsa, type Tensor, headCount } from './args.js';
import { DTYPE_CODES, type DType } from '../core/dtype.js';
import { BlindsightError, callNative, fromNative, typeError, rangeError } from '../core/errors.js';
import { MaskPlan } from '../core/plan.js';
import { native, type NativeAttentionArgs, type NativeAttentionResult, type NativeProblemArgs } from '../core/native.js';
import { requestedBackend, resolveBackend, type Backend } from '../backends/backends.js';
import { cudaPlanHandle, requireCuda } from '../backends/cuda.js';

export type { CpuIsa, Tensor };

export interface AttentionArgs {
  /** [numTokens, numHeads, headDim], token-major. */
  q: Tensor;
  /** [numTokens, numKvHeads, headDim]. */
  k: Tensor;
  /** [numTokens, numKvHeads, headDim]. */
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
  /** Caller-owned output [numTokens, numHeads, headDim] of outDtype; must not overlap q, k or v. */
  out?: Tensor;
  /** Caller-owned LSE output [numTokens, numHeads] (implies returnLse). */
  lse?: Float32Array;
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
}

export interface AttentionResult<Out extends Tensor = Float32Array> {
  out: Out;
  lse?: Float32Array;
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
  return r.lse ? { out: r.out, lse: r.lse } : { out: r.out };
}

// The CUDA module takes the same tensors with its own plan handle, and the element types instead of CPU settings.
function cudaArgs(plan: MaskPlan, a: NativeAttentionArgs): NativeProblemArgs {
  const { threads: _threads, isa: _isa, ...problem } = a;
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

  const n = a.plan.layout.numTokens;
  const qLen = n * numHeads * headDim;
  const kvLen = n * numKvHeads * headDim;
  if (!Number.isSafeInteger(qLen * 4) || qLen > 2 ** 32 - 1)
    throw new BlindsightError('SIZE_OVERFLOW', `numTokens*numHeads*headDim = ${qLen} elements is more than a Float32Array can hold`);
  const dtype = dtypeOption(a.dtype, 'dtype');
  const outDtype = dtypeOption(a.outDtype, 'outDtype');
  const q = tensor(a.q, dtype, 'q', qLen, 'numTokens*numHeads*headDim', n);
  const k = tensor(a.k, dtype, 'k', kvLen, 'numTokens*numKvHeads*headDim', n);
  const v = tensor(a.v, dtype, 'v', kvLen, 'numTokens*numKvHeads*headDim', n);
  // Outputs the caller leaves out are allocated by the addon, from recycled native memory (no fresh pages to fault in).
  const out = a.out === undefined ? undefined : tensor(a.out, outDtype, 'out', qLen, 'numTokens*numHeads*headDim', n);
  const returnLse = a.lse !== undefined || bool(a.returnLse, 'returnLse');
  const lse = a.lse === undefined ? undefined : f32(a.lse, 'lse', n * numHeads, 'numTokens*numHeads', n);
  for (const [name, o] of [['out', out], ['lse', lse]] as const) {
    if (!o) continue;
    for (const [iname, i] of [['q', q], ['k', k], ['v', v]] as const)
      if (overlaps(o, i)) throw new BlindsightError('ALIASED_OUTPUT', `${name} overlaps ${iname}; pass a separate output buffer`);
  }
  if (lse && out && overlaps(out, lse)) throw new BlindsightError('ALIASED_OUTPUT', 'lse overlaps out');

  const scale = scaleOption(a.scale, headDim);
  const threads = threadsOption(a.threads);
  const backend = resolveBackend(requestedBackend(a.backend), { headDim, cpuOnly: a.isa !== undefined ? 'isa' : undefined });
  const isa = isaOption(a.isa);
  return {
    nativeArgs: {
      plan: a.plan.handle, q, k, v, out, lse, returnLse, heads, numHeads, numKvHeads, headDim, scale,
      inputDtype: DTYPE_CODES[dtype], outputDtype: DTYPE_CODES[outDtype], threads, isa,
    },
    backend,
  };
}
