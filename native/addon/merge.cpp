#include "merge.h"

#include <string>
#include <vector>

#include "../core/merge.h"
#include "../cpu/merge.h"
#include "args.h"
#include "attention_args.h"
#include "js_errors.h"
#include "promise_worker.h"
#include "tensor_memory.h"

namespace bs::addon {

Napi::Value MergeAttentionSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args a(env, info[0], "mergeAttention");
  MergeProblem p;
  p.numHeads = static_cast<int32_t>(a.integer("numHeads", 1, 1 << 16, ErrorCode::BAD_HEAD_COUNT));
  p.headDim = static_cast<int32_t>(a.integer("headDim", 1, 1 << 16, ErrorCode::BAD_HEAD_DIM));
  p.inputType = dtypeField(a, "inputDtype");
  p.outputType = dtypeField(a, "outputDtype");
  const int threads = static_cast<int>(a.integerOr("threads", 0, 0, 1 << 16));
  const Napi::Value list = a.get("partials");
  if (!list.IsArray() || list.As<Napi::Array>().Length() == 0)
    a.fail(ErrorCode::BAD_ARGUMENT, "partials", "must be a non-empty array of { out, lse }");
  const Napi::Array parts = list.As<Napi::Array>();
  // Partials are read in place: the call is synchronous, so nothing in JS can release their memory meanwhile.
  std::vector<TensorRef> keep;
  for (uint32_t i = 0; i < parts.Length(); ++i) {
    const std::string name = "partials[" + std::to_string(i) + "]";
    const Args part(env, parts.Get(i), name.c_str());
    const ElementView lse = elementView(part, "lse", DType::F32);
    if (i == 0) {
      if (lse.length % p.numHeads != 0) part.fail(ErrorCode::SHAPE_MISMATCH, "lse", "length is not a multiple of numHeads");
      p.rows = static_cast<int64_t>(lse.length / p.numHeads);
    }
    const size_t rowsHeads = static_cast<size_t>(p.rows) * p.numHeads;
    if (lse.length != rowsHeads) part.fail(ErrorCode::SHAPE_MISMATCH, "lse", "must have as many rows as partials[0]");
    const ElementView out = elementView(part, "out", p.inputType);
    if (out.length != rowsHeads * p.headDim)
      part.fail(ErrorCode::SHAPE_MISMATCH, "out", "must have rows x numHeads x headDim elements");
    p.partials.push_back({out.data, static_cast<const float*>(lse.data)});
  }
  const size_t rowsHeads = static_cast<size_t>(p.rows) * p.numHeads;
  TensorRef out = stageOutput(a, "out", p.outputType, rowsHeads * p.headDim, false, ErrorCode::SHAPE_MISMATCH);
  TensorRef lse;
  if (a.has("lse") || a.boolean("returnLse", false)) lse = stageOutput(a, "lse", DType::F32, rowsHeads, false, ErrorCode::SHAPE_MISMATCH);
  p.out = out.data;
  p.lse = lse.length ? static_cast<float*>(lse.data) : nullptr;
  runCoded(env, "merging partial results", [&] { cpu::mergeAttention(p, threads); });
  Napi::Object o = Napi::Object::New(env);
  o.Set("out", finishOutput(env, out, "out"));
  if (lse.length) o.Set("lse", finishOutput(env, lse, "lse"));
  return o;
}

}  // namespace bs::addon
