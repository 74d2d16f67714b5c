// Runs the launch's host-visible decisions on the CPU, with the kernel's own code: the plan image, the work
// schedule, workTileFor and the KeyTileWalk. Lets the test suite check, on machines without a GPU, that every CTA
// gets the right rows and head and visits exactly the plan's keys.
#pragma once
#include <cstdint>
#include <vector>

#include "../../core/plan.h"

namespace bs::cuda {

struct Inspection {
  // Per work item, in launch order: chunk, head, queryBlock, rowBegin, rows, kvHead, category, first tile, end tile.
  static constexpr int kItemFields = 9;
  std::vector<int32_t> items;
  // Per key tile: list (-1 consecutive tokens, 0 sinkTokens, 1 sharedTokens, 2 textTokens), begin, count, full.
  static constexpr int kTileFields = 4;
  std::vector<int32_t> tiles;
};

// keysPerTile: 16, 32 or 64 (the kernels' tile widths).
Inspection inspectLaunch(const Plan& plan, const HeadCategory* heads, int32_t numHeads, int32_t numKvHeads,
                         int32_t rowsPerCta, int32_t keysPerTile);

}  // namespace bs::cuda
