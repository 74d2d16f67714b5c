#include "inspect.h"

#include "../../core/error.h"
#include "../../core/problem_checks.h"
#include "../device/key_tiles.cuh"
#include "plan_image.h"
#include "../device/tile_scheduler.cuh"

namespace bs::cuda {
namespace {

template <int kKeys>
void walkAll(const KernelParams& params, int32_t numItems, Inspection& out) {
  for (int32_t i = 0; i < numItems; ++i) {
    const WorkTile w = workTileFor(params, i);
    const int32_t firstTile = static_cast<int32_t>(out.tiles.size() / Inspection::kTileFields);
    KeyTileWalk<kKeys> walk(params, w);
    KeyTile t;
    while (walk.next(t)) {
      int32_t list = -1;
      for (int32_t l = 0; l < kNumGatherLists; ++l)
        if (t.list != nullptr && t.list == params.gatherLists.list[l]) list = l;
      out.tiles.insert(out.tiles.end(), {list, t.begin, t.count, t.full() ? 1 : 0});
    }
    const int32_t endTile = static_cast<int32_t>(out.tiles.size() / Inspection::kTileFields);
    out.items.insert(out.items.end(), {params.items[i].chunk, w.head, w.queryBlock, w.rowBegin, w.rows, w.kvHead,
                                       static_cast<int32_t>(w.category), firstTile, endTile});
  }
}

}  // namespace

Inspection inspectLaunch(const Plan& plan, const HeadCategory* heads, int32_t numHeads, int32_t numKvHeads,
                         int32_t rowsPerCta, int32_t keysPerTile) {
  checkHeadCounts(numHeads, numKvHeads);
  if (rowsPerCta < 1) throw Error(ErrorCode::BAD_ARGUMENT, "rowsPerCta must be positive");
  const PlanImage image(plan, nullptr, heads, numHeads, rowsPerCta);
  KernelParams params{};
  params.numHeads = numHeads;
  params.numKvHeads = numKvHeads;
  params.headsPerKv = numHeads / numKvHeads;
  image.bind(image.bytes().data(), params);
  Inspection out;
  switch (keysPerTile) {
    case 16: walkAll<16>(params, image.numItems(), out); break;
    case 32: walkAll<32>(params, image.numItems(), out); break;
    case 64: walkAll<64>(params, image.numItems(), out); break;
    default: throw Error(ErrorCode::BAD_ARGUMENT, "keysPerTile must be 16, 32 or 64");
  }
  return out;
}

}  // namespace bs::cuda
