#pragma once
#include <napi.h>

namespace bs::addon {
// The CUDA module's entry points (cuda_module.cpp registers them). Host arrays in and out, the fields of
// attention_args.h: attentionSync(args), attentionAsync(args) -> Promise<void> (run on a libuv worker),
// benchmark({...args, repeats}) -> { uploadMs, planMs, kernelMs: number[], downloadMs }.
Napi::Value CudaAttentionSync(const Napi::CallbackInfo& info);
Napi::Value CudaAttentionAsync(const Napi::CallbackInfo& info);
Napi::Value CudaBenchmark(const Napi::CallbackInfo& info);
#if defined(BLINDSIGHT_CUDA_EMULATOR)
// emulate({...args, copiesAtWait}): the kernels' device code run on the CPU (native/cuda/emulation/),
// test-only.
Napi::Value CudaEmulate(const Napi::CallbackInfo& info);
#endif
}  // namespace bs::addon
