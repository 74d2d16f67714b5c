#pragma once
#include <napi.h>

namespace bs::addon {
// attentionSync(args) and attentionAsync(args) -> Promise<void>: the shared fields of attention_args.h plus
//   threads (0 = the pool's size), isa (a level name, or null for the default) and kvPack (a NativeKvPack, optional).
// The async form runs on a libuv worker that hands the work to the kernel pool.
Napi::Value AttentionSync(const Napi::CallbackInfo& info);
Napi::Value AttentionAsync(const Napi::CallbackInfo& info);
}  // namespace bs::addon
