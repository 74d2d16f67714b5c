// What one kernel launch reads: the tensors, the head shape, and the plan flattened into device arrays (see
// host/plan_image.h). Plain data shared by host and device code; all pointers are device pointers.
#pragma once
#include <cstdint>

#include "../../core/mask_rule.h"
#include "../../core/plan_walk.h"
#include "../../core/problem.h"

namespace bs::cuda {

// A slice of at most the kernel's row count of one query piece (core/query_pieces.h): what one CTA computes for one
// head, with the piece's key range and where its rows are in the call's tensors.
struct QueryChunk {
  int32_t queryBlock;
  int32_t begin, end;    // token range
  int32_t clipKeys;      // 1: the plan's key spans are cut to [keyBegin, keyEnd)
  int32_t keyBegin, keyEnd;
  int64_t queryDelta;    // q / out / lse row = token + queryDelta
  int64_t keyDelta;      // k / v row = token + keyDelta
};

// One CTA's work: a chunk and a query head. Items are ordered heaviest first (work_schedule.h).
struct WorkItem {
  int32_t chunk;
  int32_t head;
};

struct KernelParams {
  const void* q;  // query rows x numHeads x headDim at qStrides
  const void* k;  // key rows x numKvHeads x headDim at kStrides
  const void* v;  // at vStrides
  void* out;      // query rows x numHeads x headDim of outputType at outStrides
  float* lse;     // [query rows, numHeads] or null
  TensorStrides qStrides, kStrides, vStrides, outStrides;  // in elements (core/problem.h), resolved
  DType outputType;
  int32_t numHeads, numKvHeads, headsPerKv;
  // Scores are qSign * q.k (the scale's sign, exact), saturated at +-FLT_MAX where the inputs are finite; weights
  // are 2^(expScale (s - max)). Scaling differences rather than scores keeps any finite scale finite: a scale near the
  // f32 maximum no longer overflows to inf - inf = NaN. The lse is absScale * max + ln(sum).
  float qSign;
  float expScale;  // |scale| * log2(e), at most FLT_MAX
  float absScale;
  MaskOptions mask;

  const uint8_t* headCategory;  // [numHeads], HeadCategory codes
  CategoryPlanView category[kNumCategories];  // device copies of the plan's arrays (plan_walk.h)
  GatherLists gatherLists;                     // Layout::sinkTokens(), sharedTokens(), textTokens()
  const int32_t* imageIds;       // [numTokens], -1 for text
  const uint8_t* sinkFlags;      // [numTokens]

  const QueryChunk* chunks;
  const WorkItem* items;  // gridDim.x entries
};

// The tensor and shape fields of a launch's parameters (the plan fields come from host/plan_image.h).
inline KernelParams tensorParams(const MaskOptions& mask, const AttentionProblem& p) {
  KernelParams params{};
  params.q = p.q;
  params.k = p.k;
  params.v = p.v;
  params.out = p.out;
  params.lse = p.lse;
  params.qStrides = p.qStrides;
  params.kStrides = p.kStrides;
  params.vStrides = p.vStrides;
  params.outStrides = p.outStrides;
  params.outputType = p.outputType;
  params.numHeads = p.numHeads;
  params.numKvHeads = p.numKvHeads;
  params.headsPerKv = p.numHeads / p.numKvHeads;
  params.qSign = p.scale < 0 ? -1.0f : 1.0f;
  params.expScale = softmaxExpScale(p.scale);
  params.absScale = p.scale < 0 ? -p.scale : p.scale;
  params.mask = mask;
  return params;
}

}  // namespace bs::cuda
