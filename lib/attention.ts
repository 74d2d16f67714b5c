import { categoryCodes, type HeadCategory } from './categories.js';
import { DTYPE_CODES, DTYPES, type DType } from './dtype.js';
import { BlindsightError, callNative, fromNative } from './errors.js';
import { MaskPlan } from './plan.js';
import { native, type AttentionNativeArgs } from './native.js';
import { requestedBackend, resolveBackend, type Backend } from './backends.js';
import { cudaPlanHandle, requireCuda, type CudaNativeArgs } from './cuda.js';

export type CpuIsa = 'generic' | 'avx2' | 'avx512' | 'avx512bf16';

/** A tensor of the given element type: Float32Array for f32, Uint16Array of raw bits for f16 / bf16. */
export type Tensor = Float32Array | Uint16Array;

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
  const { nativeArgs, result, backend } = prepare(args);
  try {
    if (backend === 'cuda') await requireCuda().addon.attentionAsync(...cudaArgs(args.plan, nativeArgs));
    else await native().attentionAsync(...nativeArgs);
  } catch (e) {
    throw fromNative(e);
  }
  return result;
}

/** The same computation on the calling thread (blocks the event loop for its duration). */
export function attentionSync(args: AttentionArgs & { outDtype?: 'f32' }): AttentionResult<Float32Array>;
export function attentionSync(args: AttentionArgs & { outDtype: 'f16' | 'bf16' }): AttentionResult<Uint16Array>;
export function attentionSync(args: AttentionArgs): AttentionResult<Tensor>;
export function attentionSync(args: AttentionArgs): AttentionResult<Tensor> {
  const { nativeArgs, result, backend } = prepare(args);
  if (backend === 'cuda') callNative(() => requireCuda().addon.attentionSync(...cudaArgs(args.plan, nativeArgs)));
  else callNative(() => native().attentionSync(...nativeArgs));
  return result;
}

// The CUDA module takes the same tensors with its own plan handle, and the element types instead of CPU settings.
function cudaArgs(plan: MaskPlan, a: AttentionNativeArgs): CudaNativeArgs {
  const [, q, k, v, heads, numHeads, numKvHeads, headDim, scale, out, lse, , , inputType, outputType] = a;
  return [cudaPlanHandle(requireCuda().addon, plan), q, k, v, heads, numHeads, numKvHeads, headDim, scale, out, lse, inputType, outputType];
}

function prepare(a: AttentionArgs): { nativeArgs: AttentionNativeArgs; result: AttentionResult<Tensor>; backend: 'cpu' | 'cuda' } {
  if (typeof a !== 'object' || a === null) throw new TypeError('attention expects an arguments object');
  if (!(a.plan instanceof MaskPlan)) throw new TypeError('plan must be a MaskPlan (see MaskPlan.build)');
  const numHeads = positiveInt(a.numHeads, 'numHeads', 65536);
  const numKvHeads = positiveInt(a.numKvHeads, 'numKvHeads', 65536);
  const headDim = positiveInt(a.headDim, 'headDim', 512);
  if (headDim % 8 !== 0) throw new RangeError(`headDim must be a multiple of 8 in [8, 512], got ${headDim}`);
  if (numHeads % numKvHeads !== 0)
    throw new BlindsightError('BAD_GQA', `numHeads (${numHeads}) must be a multiple of numKvHeads (${numKvHeads})`);
  if (!Array.isArray(a.heads)) throw new TypeError('heads must be an array with one category per query head');
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
  const out =
    a.out === undefined
      ? outDtype === 'f32'
        ? new Float32Array(qLen)
        : new Uint16Array(qLen)
      : tensor(a.out, outDtype, 'out', qLen, 'numTokens*numHeads*headDim', n);
  const wantLse = a.lse !== undefined || bool(a.returnLse, 'returnLse');
  const lse = a.lse === undefined ? (wantLse ? new Float32Array(n * numHeads) : null) : f32(a.lse, 'lse', n * numHeads, 'numTokens*numHeads', n);
  for (const [name, o] of [['out', out], ['lse', lse]] as const) {
    if (!o) continue;
    for (const [iname, i] of [['q', q], ['k', k], ['v', v]] as const)
      if (overlaps(o, i)) throw new BlindsightError('ALIASED_OUTPUT', `${name} overlaps ${iname}; pass a separate output buffer`);
  }
  if (lse && overlaps(out, lse)) throw new BlindsightError('ALIASED_OUTPUT', 'lse overlaps out');

  const scale = a.scale === undefined ? 1 / Math.sqrt(headDim) : a.scale;
  if (typeof scale !== 'number' || !Number.isFinite(scale)) throw new RangeError(`scale must be a finite number, got ${String(scale)}`);
  const threads = a.threads === undefined ? 0 : positiveInt(a.threads, 'threads', 1024);
  const backend = resolveBackend(requestedBackend(a.backend), { headDim, cpuOnly: a.isa !== undefined ? 'isa' : undefined });
  let isa: string | null = null;
  if (a.isa !== undefined) {
    const available = native().cpuInfo().isas;
    if (!available.includes(a.isa))
      throw new BlindsightError('UNSUPPORTED_ISA', `isa ${JSON.stringify(a.isa)} is not available here; this CPU runs: ${available.join(', ')}`);
    isa = a.isa;
  }
  return {
    nativeArgs: [
      a.plan.handle, q, k, v, heads, numHeads, numKvHeads, headDim, scale, out, lse, threads, isa,
      DTYPE_CODES[dtype], DTYPE_CODES[outDtype],
    ],
    result: lse ? { out, lse } : { out },
    backend,
  };
}

function positiveInt(v: unknown, name: string, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`${name} must be an integer, got ${String(v)}`);
  if (v < 1 || v > max) throw new RangeError(`${name} must be in [1, ${max}], got ${v}`);
  return v;
}

function bool(v: unknown, name: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new TypeError(`${name} must be a boolean`);
  return v;
}

function dtypeOption(v: unknown, name: string): DType {
  if (v === undefined) return 'f32';
  if (typeof v !== 'string' || !(DTYPES as readonly string[]).includes(v))
    throw new TypeError(`${name} must be one of ${DTYPES.map((d) => `'${d}'`).join(', ')}, got ${JSON.stringify(v)}`);
  return v as DType;
}

function tensor(x: unknown, dtype: DType, name: string, expected: number, formula: string, n: number): Tensor {
  const want = dtype === 'f32' ? Float32Array : Uint16Array;
  if (!(x instanceof want)) {
    const got = x === null ? 'null' : ArrayBuffer.isView(x) ? x.constructor.name : typeof x;
    const hint = dtype === 'f32' && x instanceof Uint16Array ? ` (for f16 / bf16 data pass dtype: 'f16' or 'bf16')` : '';
    throw new TypeError(`${name} must be a ${want.name} for ${dtype}, got ${got}${hint}`);
  }
  return checkLength(x, name, expected, formula, n);
}

function f32(x: unknown, name: string, expected: number, formula: string, n: number): Float32Array {
  if (!(x instanceof Float32Array)) {
    const got = x === null ? 'null' : ArrayBuffer.isView(x) ? x.constructor.name : typeof x;
    throw new TypeError(`${name} must be a Float32Array, got ${got}`);
  }
  return checkLength(x, name, expected, formula, n);
}

function checkLength<T extends Tensor>(x: T, name: string, expected: number, formula: string, n: number): T {
  if (x.length !== expected)
    throw new BlindsightError('SHAPE_MISMATCH', `${name} has ${x.length} elements; expected ${formula} = ${expected} (the plan's layout has ${n} tokens)`);
  return x;
}

function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.buffer !== b.buffer) return false;
  return a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}
