/**
 * Which backend computes a call. `backend` on attention() (default: the BLINDSIGHT_BACKEND environment variable, else
 * 'auto'): 'cpu', 'cuda' (a BlindsightError CUDA_UNAVAILABLE when no usable GPU is present, saying why), or 'auto'
 * (CUDA when a device is present and has a kernel for the call, else CPU).
 */
import { BlindsightError, typeError, show } from '../core/errors.js';
import { cudaModule, type CudaDevice } from './cuda.js';
import { native } from '../core/native.js';

export type Backend = 'auto' | 'cpu' | 'cuda';
export const BACKENDS: readonly Backend[] = Object.freeze(['auto', 'cpu', 'cuda'] as const);

export interface CpuBackendInfo {
  name: 'cpu';
  available: boolean;
  /** Why not, when unavailable (the CPU addon failed to load). */
  reason?: string;
  isas?: string[];
  defaultIsa?: string;
  threads?: number;
}

export interface CudaBackendInfo {
  name: 'cuda';
  available: boolean;
  /** Why not, when unavailable: module not built, no driver, driver too old, no device, GPU older than sm_80, ... */
  reason?: string;
  /** The CUDA module that was loaded, if any. */
  addonPath?: string;
  device?: CudaDevice;
  /** CUDA runtime and driver versions (e.g. 13000 = 13.0); driver 0 = none installed. */
  runtimeVersion?: number;
  driverVersion?: number;
  /** GPU architectures compiled into the module (CMake's spelling, e.g. "80-real 86-real 89-real 90"). */
  builtArchs?: string;
  /** Head dims the CUDA kernels support. */
  headDims?: number[];
}

export type BackendInfo = CpuBackendInfo | CudaBackendInfo;

/** Every backend, whether it can run here, and if not, why. Loads the modules (once) but never throws. */
export function listBackends(): BackendInfo[] {
  return [cpuInfo(), cudaInfo()];
}

function cpuInfo(): CpuBackendInfo {
  try {
    const info = native().cpuInfo();
    return { name: 'cpu', available: true, isas: info.isas, defaultIsa: info.defaultIsa, threads: native().getThreads() };
  } catch (e) {
    return { name: 'cpu', available: false, reason: e instanceof Error ? e.message : String(e) };
  }
}

function cudaInfo(): CudaBackendInfo {
  const m = cudaModule();
  if (!m.addon) return { name: 'cuda', available: false, reason: m.reason };
  const i = m.info;
  const base: CudaBackendInfo = {
    name: 'cuda',
    available: i.available,
    addonPath: m.path,
    runtimeVersion: i.runtimeVersion,
    driverVersion: i.driverVersion,
    builtArchs: i.builtArchs,
    headDims: i.headDims,
  };
  if (i.device) base.device = i.device;
  if (!i.available) base.reason = i.reason;
  return base;
}

/** The backend named by a call's `backend` argument, or else by BLINDSIGHT_BACKEND, or else 'auto'. */
export function requestedBackend(v: unknown): Backend {
  if (v !== undefined) {
    if (typeof v !== 'string') throw typeError(`backend must be one of ${BACKENDS.join(', ')}, got ${typeof v}`);
    if (!(BACKENDS as readonly string[]).includes(v))
      throw new BlindsightError('BAD_BACKEND', `backend must be one of ${BACKENDS.join(', ')}, got ${show(v)}`);
    return v as Backend;
  }
  const env = process.env.BLINDSIGHT_BACKEND;
  if (env === undefined || env === '') return 'auto';
  if (!(BACKENDS as readonly string[]).includes(env))
    throw new BlindsightError('BAD_BACKEND', `BLINDSIGHT_BACKEND must be one of ${BACKENDS.join(', ')}, got ${show(env)}`);
  return env as Backend;
}

/**
 * Decides where a call runs. `cpuOnly` names a CPU-only option the call set (e.g. `isa`): 'auto' then stays on the
 * CPU, and 'cuda' is a contradiction. A head dim without a CUDA kernel keeps 'auto' on the CPU and makes 'cuda' fail.
 */
export function resolveBackend(requested: Backend, call: { headDim: number; cpuOnly?: string }): 'cpu' | 'cuda' {
  if (requested === 'cpu') return 'cpu';
  const cuda = cudaInfo();
  if (requested === 'auto') {
    return cuda.available && !call.cpuOnly && (cuda.headDims ?? []).includes(call.headDim) ? 'cuda' : 'cpu';
  }
  if (call.cpuOnly) throw new BlindsightError('BAD_OPTION', `${call.cpuOnly} applies to the CPU backend only; it cannot be combined with backend 'cuda'`);
  if (!cuda.available) throw new BlindsightError('CUDA_UNAVAILABLE', `backend 'cuda' is unavailable: ${cuda.reason}`);
  if (!(cuda.headDims ?? []).includes(call.headDim))
    throw new BlindsightError(
      'UNSUPPORTED_HEAD_DIM',
      `the CUDA backend has kernels for head dims ${(cuda.headDims ?? []).join(', ')}, not ${call.headDim}; use backend 'cpu' or 'auto'`,
    );
  return 'cuda';
}
