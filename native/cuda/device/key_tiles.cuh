// The key tiles a CTA visits: the core plan walk (core/plan_walk.h, the same walk every backend uses) over the device
// copies of the plan's arrays, read through the read-only cache. Blocks outside the runs are never visited, so
// skipped blocks are never loaded. Every thread of a CTA walks the same sequence (the walk reads only the plan), so
// tile boundaries are uniform across the CTA. Host-compilable, so host/inspect.cpp can check it.
#pragma once
#include <cstdint>

#include "../../core/plan_walk.h"
#include "host_device.h"
#include "kernel_params.h"
#include "tile_scheduler.cuh"

namespace bs::cuda {

struct ReadOnlyLoad {
  template <typename T>
  BS_HOST_DEVICE static T load(const T* p) {
    return loadReadOnly(p);
  }
};

using KeyTile = KeyTileT<ReadOnlyLoad>;

// Whether row `token` (of image `image`; valid: a row of the work tile) sees key `col` of a tile: every key of a full
// tile, the element rule on a partial one. Both mainloops keep the partial tile's keyToken / keyImage / keySink in
// their shared storage.
template <class Shared>
BS_HOST_DEVICE bool tileKeyVisible(const KernelParams& p, const WorkTile& w, const KeyTile& tile, const Shared& s,
                                          int col, int32_t token, int32_t image, bool valid) {
  return tile.full() || !valid ||
         mask_visible(w.category, p.mask, token, s.keyToken[col], image, s.keyImage[col], s.keySink[col] != 0);
}

template <int kTileKeys>
class KeyTileWalk : public TileWalkT<kTileKeys, ReadOnlyLoad> {
 public:
  BS_HOST_DEVICE KeyTileWalk(const KernelParams& p, const WorkTile& w)
      : TileWalkT<kTileKeys, ReadOnlyLoad>(p.category[static_cast<int>(w.category)], p.gatherLists, w.queryBlock, w.keys,
                                           w.clipKeys) {}
};

}  // namespace bs::cuda
