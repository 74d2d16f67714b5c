// The CPU backend's work items and the order in which they are handed out.
//
// A work item is one query piece (core/query_pieces.h: a query block's rows inside the call's query range) for a stack
// of query heads. Heads are stacked when the block is shorter than one pass of kLanes rows (the text between two
// images, the tail of an image) and they share the KV head and the block's plan: the same category, or any category on
// a text block (text rows see everything causal whatever the head's category). The kernel puts (head, row) pairs in
// its lanes, so a 24-row text block of 7 heads fills 168 lanes and every K/V tile it reads serves up to 64 rows, as a
// long block does, instead of 24. Image blocks of sparse heads, whose rows see few keys, are stacked whole blocks
// (of at most kLanes rows) included, token-major (kernel.h, HeadStack): a pass then reads and writes each token's
// heads as one contiguous run.
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

#include "../core/query_pieces.h"
#include "../core/plan.h"
#include "../core/problem.h"

namespace bs::cpu {

// At most this many heads in one stack: enough to fill whole passes of short blocks, few enough that one item stays
// a small share of a layer's work.
constexpr int32_t kMaxStackedHeads = 8;

struct WorkItem {
  int32_t piece;          // index into the call's query pieces
  int32_t firstHead;      // index into WorkList::heads
  int32_t numHeads;
  HeadCategory category;  // whose plan and partial-tile masks the item uses
  bool tokenMajor;        // lane order (kernel.h, HeadStack)
  int32_t firstLane = 0;  // the stack's lanes this item runs (kernel.h, HeadStack); numLanes 0: all of them
  int32_t numLanes = 0;
};

struct WorkList {
  std::vector<WorkItem> items;
  std::vector<int32_t> heads;  // the stacks, in increasing head order within each
};

// How a stack of several passes is handed out: whole (one item: the attention-mass pass sums each item's heads), or
// one item per pass. A head-major stack's passes all read every key its rows see (the text between two images sees
// the whole prompt so far); as separate items the threads run them side by side, and each K/V tile one thread brings
// in from memory serves the other from the shared cache (alone, a stack's passes ran 15-25 % slower than beside
// another stack of the same group). Measured on the Zen 5 VM, one process, builds alternating: sink heads prefilled
// in micro-batches of 512 tokens (a call holds one text stack per KV group) 0.94-0.95x f32, 0.95-0.96x bf16; of 2,048
// tokens 0.98-1.01x; whole-prompt calls, where a group's text stacks already run side by side, 1.00-1.01x.
enum class StackItems { Whole, PerPass };

WorkList orderWork(const Plan& plan, const AttentionProblem& problem, const std::vector<QueryPiece>& pieces,
                   StackItems split);

}  // namespace bs::cpu
