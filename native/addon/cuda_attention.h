#pragma once
#include <napi.h>

namespace bs::addon {
// The CUDA module's entry points (cuda_module.cpp registers them). Host arrays in and out:
// attention(plan, q, k, v, heads, numHeads, numKvHeads, headDim, scale, out, lse | null, inputType, outputType)
//   q/k/v are Float32Array for inputType 0 (f32) and Uint16Array holding f16 (1) or bf16 (2) bits; out likewise for
//   outputType. attentionAsync(...same) -> Promise<void>, run on a libuv worker.
// benchmark(...same, repeats) -> { uploadMs, planMs, kernelMs: number[], downloadMs }.
Napi::Value CudaAttentionSync(const Napi::CallbackInfo& info);
Napi::Value CudaAttentionAsync(const Napi::CallbackInfo& info);
Napi::Value CudaBenchmark(const Napi::CallbackInfo& info);
#if defined(BLINDSIGHT_CUDA_EMULATOR)
// emulate(...same as attention, copiesAtWait): the kernels' device code run on the CPU (native/cuda/emulation/),
// test-only.
Napi::Value CudaEmulate(const Napi::CallbackInfo& info);
#endif
}  // namespace bs::addon
