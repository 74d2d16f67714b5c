#pragma once
#include <napi.h>

namespace bs::addon {
// attentionMassSync({ plan, q, k, inputDtype, numHeads, numKvHeads, headDim, scale, perToken?, returnPerToken?,
//                      threads?, isa? }) -> { perHead: Float64Array [numHeads * 7], imageQueries: number, perToken? }
// (memory staged as tensor_memory.h describes).
// q and k are Float32Arrays (inputDtype 0) or Uint16Arrays holding f16 (1) or bf16 (2) bits.
// attentionMassAsync(same) -> Promise of the same object, computed on a libuv worker that hands the work to the pool.
Napi::Value AttentionMassSync(const Napi::CallbackInfo& info);
Napi::Value AttentionMassAsync(const Napi::CallbackInfo& info);
}  // namespace bs::addon
