// The CPU's merge of partial attention results (core/merge.h), spread over the pool by rows.
#pragma once
#include "../core/merge.h"

namespace bs::cpu {

void mergeAttention(const MergeProblem& problem, int threads);

}  // namespace bs::cpu
