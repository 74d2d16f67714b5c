#pragma once
#include <napi.h>

namespace bs::addon {
// mergeAttentionSync({ partials: [{ out, lse }, ...], numHeads, headDim, inputDtype, outputDtype, out?, lse?,
//   returnLse, threads }) -> { out, lse? }: core/merge.h on the calling thread and the pool. Rows come from the first
// partial's lse (rows x numHeads); out and lse may be a partial's own arrays.
Napi::Value MergeAttentionSync(const Napi::CallbackInfo& info);
}  // namespace bs::addon
