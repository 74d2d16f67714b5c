// Attention entry points: checks the caller's description of its tensors (C callers have no TS layer in front of
// them), builds the AttentionProblem every backend receives, and hands it to the CPU or CUDA backend.
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../core/call_ranges.h"
#include "../core/merge.h"
#include "../core/problem_checks.h"
#include "../cpu/cpu_backend.h"
#include "../cpu/merge.h"
#include "guard.h"
#include "handles.h"
#ifdef BLINDSIGHT_WITH_CUDA
#include "../cuda/host/cuda_backend.h"
#endif

namespace bs::capi {
namespace {

// The element size of a blindsight_dtype; throws UNSUPPORTED_DTYPE for any other value.
size_t dtypeBytes(int32_t dtype, const char* name) {
  switch (dtype) {
    case BLINDSIGHT_F32: return 4;
    case BLINDSIGHT_F16:
    case BLINDSIGHT_BF16: return 2;
  }
  throw Error(ErrorCode::UNSUPPORTED_DTYPE,
              std::string(name) + " must be a blindsight_dtype (BLINDSIGHT_F32, BLINDSIGHT_F16 or BLINDSIGHT_BF16)");
}

// A checked problem and the storage its heads and ranges pointers refer to.
struct Call {
  AttentionProblem problem{};
  std::vector<HeadCategory> heads;
  std::unique_ptr<CallRanges> ranges;
};

TensorStrides strides(const blindsight_strides& s) { return {s.token, s.head}; }

Call describe(const blindsight_plan* plan, const blindsight_attention_args* a, bool hostPointers) {
  requireNonNull(plan, "plan");
  requireNonNull(a, "args");
  requireNonNull(a->q, "args->q");
  requireNonNull(a->k, "args->k");
  requireNonNull(a->v, "args->v");
  requireNonNull(a->out, "args->out");
  requireNonNull(a->heads, "args->heads");
  checkHeadCounts(a->num_heads, a->num_kv_heads);
  checkAttentionHeadDim(a->head_dim);
  if (a->threads < 0) invalid("threads must be >= 0 (0 = the pool's size)");

  Call call;
  for (int32_t h = 0; h < a->num_heads; ++h) {
    if (a->heads[h] > BLINDSIGHT_INTRA_IMAGE_SINK)
      throw Error(ErrorCode::UNKNOWN_CATEGORY, "heads[" + std::to_string(h) + "] = " + std::to_string(a->heads[h]) +
                                          " is not a blindsight_category (0..3)");
    call.heads.push_back(static_cast<HeadCategory>(a->heads[h]));
  }
  dtypeBytes(a->input_dtype, "input_dtype");
  dtypeBytes(a->output_dtype, "output_dtype");
  AttentionProblem& p = call.problem;
  p.q = a->q;
  p.k = a->k;
  p.v = a->v;
  p.out = a->out;
  p.lse = a->lse;
  p.inputType = static_cast<DType>(a->input_dtype);
  p.outputType = static_cast<DType>(a->output_dtype);
  p.numHeads = a->num_heads;
  p.numKvHeads = a->num_kv_heads;
  p.headDim = a->head_dim;
  p.scale = resolveScale(a->scale, a->head_dim);
  p.heads = call.heads.data();
  call.ranges = std::make_unique<CallRanges>(plan->plan->layout(), a->query_ranges, a->key_ranges);
  p.ranges = call.ranges.get();
  p.qStrides = strides(a->q_strides);
  p.kStrides = strides(a->k_strides);
  p.vStrides = strides(a->v_strides);
  p.outStrides = strides(a->out_strides);
  resolveProblemStrides(p, call.ranges->queryRows(), call.ranges->keyRows());
  if (hostPointers) checkOutputsDisjoint(p, call.ranges->queryRows(), call.ranges->keyRows());
  return call;
}

cpu::Isa isaNamed(const char* name) { return name == nullptr ? cpu::defaultIsa() : cpu::parseIsa(name); }

}  // namespace
}  // namespace bs::capi

using namespace bs::capi;

extern "C" {

void blindsight_attention_args_init(blindsight_attention_args* args) {
  if (args) *args = blindsight_attention_args{};  // f32 in and out (0), scale 0, threads 0, isa null
}

blindsight_status blindsight_attention(const blindsight_plan* plan, const blindsight_attention_args* args) {
  return guarded([&] {
    const Call call = describe(plan, args, true);
    const std::shared_ptr<bs::cpu::KvPack> keep = args->kv_pack ? args->kv_pack->share() : nullptr;
    const bs::cpu::CallStats stats =
        bs::cpu::attention(*plan->plan, call.problem, args->threads, isaNamed(args->isa), keep.get());
    if (args->computed_pairs) *args->computed_pairs = stats.computedPairs;
  });
}

blindsight_status blindsight_kv_pack_create(blindsight_kv_pack** out_pack) {
  if (out_pack) *out_pack = nullptr;
  return guarded([&] {
    requireNonNull(out_pack, "out_pack");
    auto pack = std::make_unique<blindsight_kv_pack>();
    pack->pack = std::make_shared<bs::cpu::KvPack>();
    *out_pack = pack.release();
  });
}

blindsight_status blindsight_kv_pack_reset(blindsight_kv_pack* pack) {
  return guarded([&] {
    requireNonNull(pack, "pack");
    // A call still running on another thread keeps its own share of the old pack (handles.h, freshKvPack).
    std::lock_guard<std::mutex> handle(pack->m);
    pack->pack = bs::cpu::freshKvPack(*pack->pack);
  });
}

void blindsight_kv_pack_destroy(blindsight_kv_pack* pack) { delete pack; }

blindsight_status blindsight_attention_cuda(const blindsight_plan* plan, const blindsight_attention_args* args,
                                            void* cuda_stream) {
  return guarded([&] {
#ifdef BLINDSIGHT_WITH_CUDA
    std::string whyNot;
    if (!bs::cuda::available(&whyNot)) throw bs::Error(bs::ErrorCode::CUDA_UNAVAILABLE, "no usable CUDA device: " + whyNot);
    const Call call = describe(plan, args, false);
    bs::cuda::attentionDevice(*plan->plan, call.problem, cuda_stream);
#else
    (void)plan, (void)args, (void)cuda_stream;
    throw bs::Error(bs::ErrorCode::CUDA_UNAVAILABLE,
                    "this libblindsight was built without the CUDA backend; rebuild it with nvcc on PATH and "
                    "-DBLINDSIGHT_CUDA=ON");
#endif
  });
}

blindsight_status blindsight_merge_attention(const blindsight_merge_args* args) {
  return guarded([&] {
    requireNonNull(args, "args");
    if (args->num_partials < 1) invalid("num_partials must be >= 1");
    requireNonNull(args->partials, "args->partials");
    bs::MergeProblem p;
    for (int32_t i = 0; i < args->num_partials; ++i) p.partials.push_back({args->partials[i].out, args->partials[i].lse});
    p.rows = args->rows;
    p.numHeads = args->num_heads;
    p.headDim = args->head_dim;
    dtypeBytes(args->input_dtype, "input_dtype");
    dtypeBytes(args->output_dtype, "output_dtype");
    p.inputType = static_cast<bs::DType>(args->input_dtype);
    p.outputType = static_cast<bs::DType>(args->output_dtype);
    p.out = args->out;
    p.lse = args->lse;
    if (args->threads < 0) invalid("threads must be >= 0 (0 = the pool's size)");
    bs::cpu::mergeAttention(p, args->threads);
  });
}

}  // extern "C"
