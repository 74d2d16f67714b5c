/**
 * The CUDA module (blindsight_cuda.node): where it is looked for, loading it on first use, and its plan handles.
 *
 * It is a separate binary from the CPU addon, built with CMake (`npm run build:cuda`, or shipped under
 * prebuilds/<platform>-<arch>/cuda/), and kept where node-gyp-build does not look, so the CPU addon is always the one
 * `native()` loads. A plan handle belongs to the module that made it, so a MaskPlan used on the GPU gets a second
 * handle, built here once from the same layout arrays and options (the planner is deterministic: same plan).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { BlindsightError } from '../core/errors.js';
import type { MaskPlan } from '../core/plan.js';
import { packageRoot, type NativeAddon, type NativeAttentionResult, type NativePlanHandle, type NativeProblemArgs } from '../core/native.js';
import { nativePlanOptions } from '../core/plan.js';

export type ElementType = 'f32' | 'f16' | 'bf16';
export const ELEMENT_TYPE_CODES: Readonly<Record<ElementType, number>> = Object.freeze({ f32: 0, f16: 1, bf16: 2 });

export interface CudaDevice {
  name: string;
  computeCapability: number;
  multiprocessors: number;
  totalMemory: number;
}
export interface NativeCudaInfo {
  compiled: boolean;
  available: boolean;
  reason: string;
  runtimeVersion: number;
  driverVersion: number;
  builtArchs: string;
  headDims: number[];
  device?: CudaDevice;
}
export interface CudaTiming {
  uploadMs: number;
  planMs: number;
  kernelMs: number[];
  downloadMs: number;
}
export interface NativeCudaAddon {
  NativePlan: NativeAddon['NativePlan'];
  NativeLayout: NativeAddon['NativeLayout'];
  cudaInfo(): NativeCudaInfo;
  /** The same fields as the CPU addon's attention call (native/addon/attention_args.h), without the CPU settings. */
  attentionSync(args: NativeProblemArgs): NativeAttentionResult;
  attentionAsync(args: NativeProblemArgs): Promise<NativeAttentionResult>;
  benchmark(args: NativeProblemArgs & { repeats: number }): CudaTiming;
  /** Test-only (Linux builds): the kernels' device code run on the CPU under a CTA emulator (native/cuda/emulation/). */
  emulate?(args: NativeProblemArgs & { copiesAtWait: boolean }): NativeAttentionResult;
  /** The launch's schedule and plan walk, run on the CPU by the kernel's own code (layout: native/cuda/host/inspect.h). */
  inspect(args: { plan: NativePlanHandle; heads: Uint8Array; numKvHeads: number; rowsPerCta: number; keysPerTile: number }): {
    items: Int32Array;
    tiles: Int32Array;
  };
}

export type CudaModule = { addon: NativeCudaAddon; path: string; info: NativeCudaInfo } | { addon: null; reason: string };

/** Where the CUDA module is looked for, in order: BLINDSIGHT_CUDA_ADDON, the prebuild, a local `npm run build:cuda`. */
export function cudaAddonCandidates(): string[] {
  const env = process.env.BLINDSIGHT_CUDA_ADDON;
  if (env) return [path.resolve(env)];
  return [
    path.join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`, 'cuda', 'blindsight_cuda.node'),
    path.join(packageRoot, 'build-cuda', 'Release', 'blindsight_cuda.node'),
  ];
}

let cached: CudaModule | undefined;

/** Loads the CUDA module once per process; never throws (a failure is the reason CUDA is unavailable). */
export function cudaModule(): CudaModule {
  if (cached) return cached;
  const candidates = cudaAddonCandidates();
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    cached = {
      addon: null,
      reason: process.env.BLINDSIGHT_CUDA_ADDON
        ? `BLINDSIGHT_CUDA_ADDON points to ${candidates[0]}, which does not exist`
        : 'the CUDA addon is not built (run `npm run build:cuda` on a machine with nvcc, or install a package that ships a CUDA prebuild)',
    };
    return cached;
  }
  try {
    const addon = createRequire(path.join(packageRoot, 'package.json'))(found) as NativeCudaAddon;
    cached = { addon, path: found, info: addon.cudaInfo() };
  } catch (e) {
    cached = { addon: null, reason: `the CUDA addon at ${found} failed to load: ${e instanceof Error ? e.message : String(e)}` };
  }
  return cached;
}

/** The CUDA module when a usable device is present; otherwise a CUDA_UNAVAILABLE error saying why. */
export function requireCuda(): { addon: NativeCudaAddon; info: NativeCudaInfo } {
  const m = cudaModule();
  if (!m.addon) throw new BlindsightError('CUDA_UNAVAILABLE', `backend 'cuda' is unavailable: ${m.reason}`);
  if (!m.info.available) throw new BlindsightError('CUDA_UNAVAILABLE', `backend 'cuda' is unavailable: ${m.info.reason}`);
  return { addon: m.addon, info: m.info };
}

const handles = new WeakMap<MaskPlan, NativePlanHandle>();

/** The CUDA module's handle of a plan (built on first use, then kept as long as the MaskPlan lives). */
export function cudaPlanHandle(addon: NativeCudaAddon, plan: MaskPlan): NativePlanHandle {
  let h = handles.get(plan);
  if (!h) {
    const L = plan.layout;
    // Handles belong to the module that made them, so the CUDA module gets its own layout and plan objects.
    const layout = new addon.NativeLayout({ cuSeqlens: L.cuSeqlens, imageIds: L.imageIds, sinkFlags: L.sinkFlags });
    h = new addon.NativePlan(layout, nativePlanOptions(plan.options));
    handles.set(plan, h);
  }
  return h;
}
