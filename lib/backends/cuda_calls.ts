/**
 * Direct calls into the CUDA backend with explicit element types (f16/bf16 tensors as Uint16Array bits, see
 * core/dtype.ts), without attention()'s backend choice: the GPU tests and the benchmark use these for the emulator
 * and the timed kernel runs. Internal (not exported from the package entries); shapes are checked again natively.
 */
import { categoryCodes, type HeadCategory } from '../core/categories.js';
import { callNative } from '../core/errors.js';
import { BlindsightError } from '../core/errors.js';
import {
  cudaModule,
  cudaPlanHandle,
  ELEMENT_TYPE_CODES,
  requireCuda,
  type CudaTiming,
  type ElementType,
  type NativeCudaAddon,
} from './cuda.js';
import type { MaskPlan } from '../core/plan.js';
import type { NativeProblemArgs } from '../core/native.js';

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

function nativeArgs(a: CudaRawArgs, addon: NativeCudaAddon = requireCuda().addon): NativeProblemArgs {
  return {
    plan: cudaPlanHandle(addon, a.plan),
    q: a.q,
    k: a.k,
    v: a.v,
    out: a.out,
    lse: a.lse ?? undefined,
    returnLse: Boolean(a.lse),
    heads: categoryCodes(a.heads),
    numHeads: a.numHeads,
    numKvHeads: a.numKvHeads,
    headDim: a.headDim,
    scale: a.scale ?? 1 / Math.sqrt(a.headDim),
    inputDtype: ELEMENT_TYPE_CODES[a.inputType],
    outputDtype: ELEMENT_TYPE_CODES[a.outputType],
  };
}

/** One attention call on the GPU (host arrays in and out), on the calling thread. */
export function cudaAttentionRaw(a: CudaRawArgs): void {
  const args = nativeArgs(a);
  callNative(() => requireCuda().addon.attentionSync(args));
}

/** Uploads once, runs the kernel `repeats` times (each timed with CUDA events), downloads the last result. */
export function cudaBenchmark(a: CudaRawArgs, repeats: number): CudaTiming {
  const args = nativeArgs(a);
  return callNative(() => requireCuda().addon.benchmark({ ...args, repeats }));
}

/**
 * The same computation with the CUDA kernels' device code run on the CPU under the CTA emulator: needs the CUDA module
 * (a Linux build), not a GPU. Slow; for tests on small problems. copiesAtWait: asynchronous copies land at the last
 * legal moment (the covering wait) instead of the first (at issue); the two expose opposite synchronisation mistakes.
 */
export function cudaEmulateRaw(a: CudaRawArgs, copiesAtWait = false): void {
  const m = cudaModule();
  if (!m.addon) throw new BlindsightError('CUDA_UNAVAILABLE', `the CUDA module is unavailable: ${m.reason}`);
  const addon = m.addon;
  if (!addon.emulate) throw new BlindsightError('CUDA_UNAVAILABLE', 'this build of the CUDA module has no emulator (Linux builds only)');
  const args = nativeArgs(a, addon);
  callNative(() => addon.emulate!({ ...args, copiesAtWait }));
}
