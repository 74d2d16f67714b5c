// Plans: bs::Plan behind an opaque handle, options and stats as plain structs.
#include <string>

#include "guard.h"
#include "handles.h"

using namespace bs::capi;

extern "C" {

void blindsight_plan_options_init(blindsight_plan_options* options) {
  if (!options) return;
  *options = blindsight_plan_options{};
  options->text_keys = 1;
  options->block_m = 64;
  options->block_n = 64;
  options->window_keeps_sinks = 1;
}

blindsight_status blindsight_plan_create(const blindsight_layout* layout, const blindsight_plan_options* options,
                                         blindsight_plan** out_plan) {
  return guarded([&] {
    requireNonNull(out_plan, "out_plan");
    *out_plan = nullptr;
    requireNonNull(layout, "layout");
    blindsight_plan_options o;
    blindsight_plan_options_init(&o);
    if (options) o = *options;
    bs::PlanOptions po;
    po.mask.textKeys = o.text_keys != 0;
    po.mask.bidirectionalImages = o.bidirectional_images != 0;
    po.mask.window = o.window;
    po.mask.windowKeepsSinks = o.window_keeps_sinks != 0;
    po.blockM = o.block_m;
    po.blockN = o.block_n;
    po.exhaustive = o.exhaustive != 0;
    *out_plan = new blindsight_plan{std::make_shared<const bs::Plan>(layout->layout, po)};
  });
}

void blindsight_plan_destroy(blindsight_plan* plan) { delete plan; }

blindsight_status blindsight_plan_get_stats(const blindsight_plan* plan, blindsight_plan_stats* out_stats) {
  return guarded([&] {
    requireNonNull(plan, "plan");
    requireNonNull(out_stats, "out_stats");
    const bs::Plan& p = *plan->plan;
    const bs::PlanStats& s = p.stats();
    blindsight_plan_stats r{};
    r.num_tokens = p.layout().numTokens();
    r.num_query_blocks = static_cast<int32_t>(p.queryBlocks().size());
    r.bytes = static_cast<int64_t>(p.bytes());
    r.dense_causal_pairs = s.denseCausalPairs;
    r.grid_blocks = s.gridBlocks;
    r.causal_blocks = s.causalBlocks;
    for (int c = 0; c < bs::kNumCategories; ++c) {
      const bs::CategoryStats& cs = s.category[c];
      r.category[c] = {cs.visiblePairs, cs.fullBlocks,   cs.partialBlocks, s.gridBlocks - cs.fullBlocks - cs.partialBlocks,
                       cs.gatheredKeys, cs.computedPairs};
    }
    *out_stats = r;
  });
}

blindsight_status blindsight_plan_visible_pairs(const blindsight_plan* plan, int32_t category, int32_t query_begin,
                                                int32_t query_end, int32_t key_begin, int32_t key_end,
                                                int64_t* out_pairs) {
  return guarded([&] {
    requireNonNull(plan, "plan");
    requireNonNull(out_pairs, "out_pairs");
    if (category < 0 || category >= bs::kNumCategories)
      throw bs::Error(bs::ErrorCode::UNKNOWN_CATEGORY, "category must be a blindsight_category (0..3)");
    const int32_t n = plan->plan->layout().numTokens();
    const auto inside = [n](int32_t b, int32_t e) { return b >= 0 && b <= e && e <= n; };
    if (!inside(query_begin, query_end) || !inside(key_begin, key_end))
      throw bs::Error(bs::ErrorCode::BAD_RANGE, "ranges must satisfy 0 <= begin <= end <= num_tokens (" + std::to_string(n) + ")");
    *out_pairs = plan->plan->visiblePairs(static_cast<bs::HeadCategory>(category), {query_begin, query_end}, {key_begin, key_end});
  });
}

}  // extern "C"
