// Walks the key tiles the plan lists for one (category, query block): each key run cut into tiles of kTileKeys
// consecutive tokens, then each gathered range cut into tiles of kTileKeys list entries. Blocks outside the runs are
// never visited, so skipped blocks are never loaded. Every thread of a CTA walks the same sequence (the walk reads
// only the plan), so tile boundaries are uniform across the CTA. Host-compilable, so inspect.cpp can check it.
#pragma once
#include <cstdint>

#include "host_device.h"
#include "kernel_params.h"

namespace bs::cuda {

struct KeyTile {
  const int32_t* list;  // null: tokens begin, begin+1, ...; otherwise tokens list[begin], list[begin+1], ...
  int32_t begin;
  int32_t count;        // 1..kTileKeys
  bool full;            // every (query, key) pair of the tile is visible: only the count bounds it

  BS_HOST_DEVICE int32_t token(int32_t i) const { return list ? loadReadOnly(list + begin + i) : begin + i; }
};

template <int kTileKeys>
class KeyTileWalk {
 public:
  BS_HOST_DEVICE KeyTileWalk(const KernelParams& p, HeadCategory c, int32_t queryBlock) : p_(p) {
    const DeviceCategoryPlan& cp = p.category[static_cast<int>(c)];
    runs_ = cp.runs;
    gathers_ = cp.gathers;
    run_ = loadReadOnly(cp.runOffsets + queryBlock);
    runEnd_ = loadReadOnly(cp.runOffsets + queryBlock + 1);
    gather_ = loadReadOnly(cp.gatherOffsets + queryBlock);
    gatherEnd_ = loadReadOnly(cp.gatherOffsets + queryBlock + 1);
  }

  // The next tile, or false when the query block's plan is exhausted.
  BS_HOST_DEVICE bool next(KeyTile& t) {
    for (; run_ < runEnd_; ++run_, started_ = false) {
      const int32_t end = loadReadOnly(&runs_[run_].end);
      if (!started_) cursor_ = loadReadOnly(&runs_[run_].begin), started_ = true;
      if (cursor_ < end) {
        t = {nullptr, cursor_, minInt(kTileKeys, end - cursor_), loadReadOnly(&runs_[run_].full) != 0};
        cursor_ += kTileKeys;
        return true;
      }
    }
    for (; gather_ < gatherEnd_; ++gather_, started_ = false) {
      const int32_t end = loadReadOnly(&gathers_[gather_].end);
      if (!started_) cursor_ = loadReadOnly(&gathers_[gather_].begin), started_ = true;
      if (cursor_ < end) {
        t = {p_.gatherList[loadReadOnly(&gathers_[gather_].list)], cursor_, minInt(kTileKeys, end - cursor_), false};
        cursor_ += kTileKeys;
        return true;
      }
    }
    return false;
  }

 private:
  const KernelParams& p_;
  const DeviceRun* runs_;
  const DeviceGather* gathers_;
  int32_t run_, runEnd_, gather_, gatherEnd_;
  int32_t cursor_ = 0;
  bool started_ = false;  // cursor_ points into the current run or gathered range
};

}  // namespace bs::cuda
