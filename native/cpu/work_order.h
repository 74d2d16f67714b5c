// The order in which the CPU backend hands out (query block, head) work items.
//
// Sparse masks make work per item very uneven: a text query block sees every earlier key, an image query block of a
// sparse head a few blocks. Items are sorted by the plan's cost estimate (pairs computed: rows x keys visited, plus a
// per-tile overhead), most expensive first, and then taken dynamically from an atomic counter (longest processing
// time first): the big items start early and the small ones fill the gaps, so all threads finish together.
// Items are grouped by KV head first (all threads work on one head's K/V at a time, a working set that stays in L3),
// and the sort is stable over (query block, head) order, so the query heads of one KV group at one query block run
// back to back and share the K/V rows in cache.
#pragma once
#include <cstdint>
#include <vector>

#include "../core/plan.h"
#include "../core/problem.h"

namespace bs::cpu {

struct WorkItem {
  int32_t queryBlock;
  int32_t head;
};

std::vector<WorkItem> orderWork(const Plan& plan, const AttentionProblem& problem);

}  // namespace bs::cpu
