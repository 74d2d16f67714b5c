/**
 * Direct calls into the CUDA backend with explicit element types: f16/bf16 tensors as Uint16Array bits (see half.ts).
 * Internal (not exported from the package index): the GPU tests and the benchmark use these to reach the
 * tensor-core kernels while attention() accepts only Float32Array. Shapes are checked again natively.
 */
import { categoryCodes, type HeadCategory } from './categories.js';
import { callNative } from './errors.js';
import { cudaPlanHandle, ELEMENT_TYPE_CODES, requireCuda, type CudaNativeArgs, type CudaTiming, type ElementType } from './cuda.js';
import type { MaskPlan } from './plan.js';

export interface CudaRawArgs {
  plan: MaskPlan;
  heads: readonly HeadCategory[];
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Float32Array for 'f32', Uint16Array bits for 'f16' / 'bf16'. */
  q: Float32Array | Uint16Array;
  k: Float32Array | Uint16Array;
  v: Float32Array | Uint16Array;
  inputType: ElementType;
  out: Float32Array | Uint16Array;
  outputType: ElementType;
  lse?: Float32Array | null;
  scale?: number;
}

function nativeArgs(a: CudaRawArgs): CudaNativeArgs {
  const { addon } = requireCuda();
  return [
    cudaPlanHandle(addon, a.plan),
    a.q,
    a.k,
    a.v,
    categoryCodes(a.heads),
    a.numHeads,
    a.numKvHeads,
    a.headDim,
    a.scale ?? 1 / Math.sqrt(a.headDim),
    a.out,
    a.lse ?? null,
    ELEMENT_TYPE_CODES[a.inputType],
    ELEMENT_TYPE_CODES[a.outputType],
  ];
}

/** One attention call on the GPU (host arrays in and out), on the calling thread. */
export function cudaAttentionRaw(a: CudaRawArgs): void {
  const args = nativeArgs(a);
  callNative(() => requireCuda().addon.attentionSync(...args));
}

/** Uploads once, runs the kernel `repeats` times (each timed with CUDA events), downloads the last result. */
export function cudaBenchmark(a: CudaRawArgs, repeats: number): CudaTiming {
  const args = nativeArgs(a);
  return callNative(() => requireCuda().addon.benchmark(...args, repeats));
}
