// What one kernel launch reads: the tensors, the head shape, and the plan flattened into device arrays (see
// host/plan_image.h). Plain data shared by host and device code; all pointers are device pointers.
#pragma once
#include <cstdint>

#include "../../core/mask_rule.h"
#include "../../core/plan_walk.h"
#include "../../core/problem.h"

namespace bs::cuda {

// A slice of at most the kernel's row count of one query block: what one CTA computes for one head.
struct QueryChunk {
  int32_t queryBlock;
  int32_t begin, end;  // token range
  int32_t pad;
};

// One CTA's work: a chunk and a query head. Items are ordered heaviest first (work_schedule.h).
struct WorkItem {
  int32_t chunk;
  int32_t head;
};

struct KernelParams {
  const void* q;  // [numTokens, numHeads, headDim]
  const void* k;  // [numTokens, numKvHeads, headDim]
  const void* v;
  void* out;      // [numTokens, numHeads, headDim] of outputType
  float* lse;     // [numTokens, numHeads] or null
  DType outputType;
  int32_t numHeads, numKvHeads, headsPerKv;
  float scaleLog2;  // scale * log2(e): softmax runs in base 2
  MaskOptions mask;

  const uint8_t* headCategory;  // [numHeads], HeadCategory codes
  CategoryPlanView category[kNumCategories];  // device copies of the plan's arrays (plan_walk.h)
  GatherLists gatherLists;                     // Layout::sinkTokens(), Layout::sharedTokens()
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
  params.outputType = p.outputType;
  params.numHeads = p.numHeads;
  params.numKvHeads = p.numKvHeads;
  params.headsPerKv = p.numHeads / p.numKvHeads;
  params.scaleLog2 = p.scale * 1.4426950408889634f;
  params.mask = mask;
  return params;
}

}  // namespace bs::cuda
