// What the C ABI's opaque handles hold. A plan shares ownership of its layout's data, so a caller may destroy the
// layout handle as soon as the plan exists.
#pragma once
#include <memory>

#include "../core/layout.h"
#include "../core/plan.h"

struct blindsight_layout {
  std::shared_ptr<const bs::Layout> layout;
};

struct blindsight_plan {
  std::shared_ptr<const bs::Plan> plan;
};
