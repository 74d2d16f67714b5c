// The plan's plain-data records, shared by the planner (plan.h), every backend's plan walk (plan_walk.h) and the CUDA
// device code, which receives arrays of exactly these structs. Fixed-width fields only, so host and device agree on
// the layout byte for byte.
#pragma once
#include <cstdint>

namespace bs {

// At most blockM query tokens of one segment (blocks never straddle a segment boundary).
struct QueryBlock {
  int32_t sequence;
  int32_t begin;  // token range [begin, end)
  int32_t end;
};

// A block-aligned key range near a query block: every pair visible (full != 0, no element test), or partial (the
// element rule of mask_rule.h decides per pair).
struct KeyRun {
  int32_t begin;  // token range [begin, end); begin is block-aligned within its sequence
  int32_t end;
  int32_t full;   // 0 or 1
};

// The token lists gathered ranges index (Layout::sinkTokens(), sharedTokens(), textTokens()).
enum class GatherList : int32_t { Sinks = 0, Shared = 1, Text = 2 };
constexpr int kNumGatherLists = 3;

// Scattered sinks and text tokens before a query block's runs, visited as compact tiles: list[begin .. end).
struct GatherRange {
  GatherList list;
  int32_t begin;  // index range into the list
  int32_t end;
};

// A range of tokens [begin, end) in layout coordinates: a call's query or key tokens of one sequence
// (call_ranges.h).
struct TokenRange {
  int32_t begin;
  int32_t end;
};

static_assert(sizeof(KeyRun) == 12 && sizeof(GatherRange) == 12, "device code reads these records as three int32s");

}  // namespace bs
