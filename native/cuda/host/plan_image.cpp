#include "plan_image.h"

#include <cstring>

#include "work_schedule.h"

namespace bs::cuda {

// Arrays go one after another, each 16-byte aligned.
template <typename T>
size_t PlanImage::add(const T* data, size_t count) {
  const size_t at = (bytes_.size() + 15) & ~size_t{15};
  bytes_.resize(at + count * sizeof(T));
  if (count) std::memcpy(bytes_.data() + at, data, count * sizeof(T));
  return at;
}

PlanImage::PlanImage(const Plan& plan, const CallRanges* ranges, const HeadCategory* heads, int32_t numHeads,
                     int32_t rowsPerCta) {
  const Layout& layout = plan.layout();
  const WorkSchedule schedule =
      ranges ? buildSchedule(plan, *ranges, heads, numHeads, rowsPerCta)
             : buildSchedule(plan, CallRanges(layout), heads, numHeads, rowsPerCta);
  numItems_ = static_cast<int32_t>(schedule.items.size());
  for (int c = 0; c < kNumCategories; ++c) {
    const Plan::CategoryPlan& cp = plan.category(static_cast<HeadCategory>(c));
    // The device reads the planner's own records (core/plan_types.h: fixed-width fields, same layout).
    runOffsets_[c] = add(cp.runOffsets);
    runs_[c] = add(cp.runs);
    gatherOffsets_[c] = add(cp.gatherOffsets);
    gathers_[c] = add(cp.gathers);
  }
  sinkTokens_ = add(layout.sinkTokens());
  sharedTokens_ = add(layout.sharedTokens());
  textTokens_ = add(layout.textTokens());
  imageIds_ = add(layout.imageIds());
  sinkFlags_ = add(layout.sinkFlags());
  heads_ = add(reinterpret_cast<const uint8_t*>(heads), static_cast<size_t>(numHeads));
  chunks_ = add(schedule.chunks);
  items_ = add(schedule.items);
}

void PlanImage::bind(const void* base, KernelParams& params) const {
  const auto* b = static_cast<const uint8_t*>(base);
  for (int c = 0; c < kNumCategories; ++c) {
    params.category[c].runOffsets = reinterpret_cast<const int32_t*>(b + runOffsets_[c]);
    params.category[c].runs = reinterpret_cast<const KeyRun*>(b + runs_[c]);
    params.category[c].gatherOffsets = reinterpret_cast<const int32_t*>(b + gatherOffsets_[c]);
    params.category[c].gathers = reinterpret_cast<const GatherRange*>(b + gathers_[c]);
  }
  params.gatherLists.list[static_cast<int>(GatherList::Sinks)] = reinterpret_cast<const int32_t*>(b + sinkTokens_);
  params.gatherLists.list[static_cast<int>(GatherList::Shared)] = reinterpret_cast<const int32_t*>(b + sharedTokens_);
  params.gatherLists.list[static_cast<int>(GatherList::Text)] = reinterpret_cast<const int32_t*>(b + textTokens_);
  params.imageIds = reinterpret_cast<const int32_t*>(b + imageIds_);
  params.sinkFlags = b + sinkFlags_;
  params.headCategory = b + heads_;
  params.chunks = reinterpret_cast<const QueryChunk*>(b + chunks_);
  params.items = reinterpret_cast<const WorkItem*>(b + items_);
}

}  // namespace bs::cuda
