// What the C ABI's opaque handles hold. A plan shares ownership of its layout's data, so a caller may destroy the
// layout handle as soon as the plan exists.
#pragma once
#include <memory>
#include <mutex>

#include "../core/layout.h"
#include "../core/plan.h"
#include "../cpu/packed_kv.h"

struct blindsight_layout {
  std::shared_ptr<const bs::Layout> layout;
};

struct blindsight_plan {
  std::shared_ptr<const bs::Plan> plan;
};

// A call takes its own share of the pack under `m` and holds it to the end, so a reset on another thread (which swaps
// in a fresh pack) never frees the one a call is using.
struct blindsight_kv_pack {
  std::mutex m;
  std::shared_ptr<bs::cpu::KvPack> pack;
  std::shared_ptr<bs::cpu::KvPack> share() {
    std::lock_guard<std::mutex> lk(m);
    return pack;
  }
};
