// The one cost model of a work item, used to order work longest first (the CPU work order and the CUDA launch
// schedule): the pairs computed, plus a per-tile overhead (softmax bookkeeping, the output rescale; about 8 keys'
// worth) and a per-row overhead (loading the query row, storing the output; about 16 keys' worth). Measured on the
// CPU kernel; on the GPU only the order matters, and heavier items are heavier there too.
#pragma once
#include <cstdint>

#include "mask_rule.h"

namespace bs {

BS_HD int64_t estimatedCost(int64_t rows, int64_t keys, int64_t tiles) { return rows * (keys + 8 * tiles + 16); }

}  // namespace bs
