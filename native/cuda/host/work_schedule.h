// The order in which CTAs take work (host side of the tile scheduler). One CTA computes one (query chunk, head)
// item. Sparse plans make items very uneven (a text query block sees the whole prefix; an image block under a sparse
// head sees little), so items are listed longest-first and the grid is launched in that order: the hardware hands
// out CTAs roughly by blockIdx, which makes this a longest-processing-time-first schedule without atomics.
#pragma once
#include <cstdint>
#include <vector>

#include "../../core/call_ranges.h"
#include "../../core/plan.h"
#include "../device/kernel_params.h"

namespace bs::cuda {

struct WorkSchedule {
  std::vector<QueryChunk> chunks;
  std::vector<WorkItem> items;
};

// The chunks of the call's query pieces (core/query_pieces.h). rowsPerCta: query rows one CTA computes (the kernel's
// tile height). heads: numHeads category codes. O(chunks log chunks + items).
WorkSchedule buildSchedule(const Plan& plan, const CallRanges& ranges, const HeadCategory* heads, int32_t numHeads,
                           int32_t rowsPerCta);

}  // namespace bs::cuda
