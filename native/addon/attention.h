#pragma once
#include <napi.h>

namespace bs::addon {
// attention(plan, q, k, v, heads, numHeads, numKvHeads, headDim, scale, out, lse | null, threads, isa | null,
//           inputType, outputType)   (types: 0 f32 Float32Array, 1 f16 / 2 bf16 Uint16Array of raw bits)
// attentionAsync(...same) -> Promise<void>, computed on a libuv worker that hands the work to the kernel pool.
Napi::Value AttentionSync(const Napi::CallbackInfo& info);
Napi::Value AttentionAsync(const Napi::CallbackInfo& info);
}  // namespace bs::addon
