// What the C ABI's opaque handles hold. A plan shares ownership of its layout's data, so a caller may destroy the
// layout handle as soon as the plan exists.
#pragma once
#include <memory>

#include "../core/layout.h"
#include "../core/plan.h"
#include "../cpu/packed_kv.h"

struct blindsight_layout {
  std::shared_ptr<const bs::Layout> layout;
};

struct blindsight_plan {
  std::shared_ptr<const bs::Plan> plan;
};

struct blindsight_kv_pack {
  std::shared_ptr<bs::cpu::KvPack> pack;
};
