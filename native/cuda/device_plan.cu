#include "device_plan.h"

#include <cstring>
#include <vector>

#include "cuda_check.h"
#include "work_schedule.h"

namespace bs::cuda {
namespace {

// Lays arrays out one after another (16-byte aligned) in a host staging buffer, remembering where each went so the
// device pointers can be set once the arena's base address is known.
class ArenaBuilder {
 public:
  template <typename T>
  size_t add(const T* data, size_t count) {
    const size_t at = (bytes_.size() + 15) & ~size_t{15};
    bytes_.resize(at + count * sizeof(T));
    if (count) std::memcpy(bytes_.data() + at, data, count * sizeof(T));
    return at;
  }
  template <typename T>
  size_t add(const std::vector<T>& v) {
    return add(v.data(), v.size());
  }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

}  // namespace

DevicePlan::DevicePlan(const Plan& plan, const AttentionProblem& p, int32_t rowsPerCta, cudaStream_t stream,
                       KernelParams& params)
    : stream_(stream) {
  const Layout& layout = plan.layout();
  const WorkSchedule schedule = buildSchedule(plan, p.heads, p.numHeads, rowsPerCta);
  numItems_ = static_cast<int32_t>(schedule.items.size());

  ArenaBuilder a;
  size_t runOffsets[kNumCategories], runs[kNumCategories], gatherOffsets[kNumCategories], gathers[kNumCategories];
  for (int c = 0; c < kNumCategories; ++c) {
    const Plan::CategoryPlan& cp = plan.category(static_cast<HeadCategory>(c));
    std::vector<DeviceRun> r;
    r.reserve(cp.runs.size());
    for (const KeyRun& x : cp.runs) r.push_back({x.begin, x.end, x.full ? 1 : 0});
    std::vector<DeviceGather> g;
    g.reserve(cp.gathers.size());
    for (const GatherRange& x : cp.gathers) g.push_back({static_cast<int32_t>(x.list), x.begin, x.end});
    runOffsets[c] = a.add(cp.runOffsets);
    runs[c] = a.add(r);
    gatherOffsets[c] = a.add(cp.gatherOffsets);
    gathers[c] = a.add(g);
  }
  const size_t sinkTokens = a.add(layout.sinkTokens());
  const size_t sharedTokens = a.add(layout.sharedTokens());
  const size_t imageIds = a.add(layout.imageIds());
  const size_t sinkFlags = a.add(layout.sinkFlags());
  const size_t heads = a.add(reinterpret_cast<const uint8_t*>(p.heads), static_cast<size_t>(p.numHeads));
  const size_t chunks = a.add(schedule.chunks);
  const size_t items = a.add(schedule.items);

  check(cudaMallocAsync(&arena_, a.bytes().size(), stream_), "allocating the plan on the device");
  // From pageable memory this returns once the bytes are staged, so the staging vector may go out of scope.
  const cudaError_t copied = cudaMemcpyAsync(arena_, a.bytes().data(), a.bytes().size(), cudaMemcpyHostToDevice, stream_);
  if (copied != cudaSuccess) {
    cudaFreeAsync(arena_, stream_);
    throwCuda(copied, "copying the plan to the device");
  }

  auto* base = static_cast<uint8_t*>(arena_);
  auto at = [base](size_t offset) { return base + offset; };
  for (int c = 0; c < kNumCategories; ++c) {
    params.category[c].runOffsets = reinterpret_cast<const int32_t*>(at(runOffsets[c]));
    params.category[c].runs = reinterpret_cast<const DeviceRun*>(at(runs[c]));
    params.category[c].gatherOffsets = reinterpret_cast<const int32_t*>(at(gatherOffsets[c]));
    params.category[c].gathers = reinterpret_cast<const DeviceGather*>(at(gathers[c]));
  }
  params.gatherList[static_cast<int>(GatherList::Sinks)] = reinterpret_cast<const int32_t*>(at(sinkTokens));
  params.gatherList[static_cast<int>(GatherList::Shared)] = reinterpret_cast<const int32_t*>(at(sharedTokens));
  params.imageIds = reinterpret_cast<const int32_t*>(at(imageIds));
  params.sinkFlags = at(sinkFlags);
  params.headCategory = at(heads);
  params.chunks = reinterpret_cast<const QueryChunk*>(at(chunks));
  params.items = reinterpret_cast<const WorkItem*>(at(items));
}

DevicePlan::~DevicePlan() {
  if (arena_) cudaFreeAsync(arena_, stream_);  // stream-ordered: after every kernel that reads it
}

}  // namespace bs::cuda
