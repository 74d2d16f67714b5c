// Device side of the tile scheduler: which (query rows, head) a CTA computes. The host lists work items longest
// first (work_schedule.h) and launches one CTA per item; CTA i takes item i.
#pragma once
#include <cstdint>

#include "host_device.h"
#include "kernel_params.h"

namespace bs::cuda {

struct WorkTile {
  int32_t queryBlock;
  int32_t rowBegin;  // token range of the query rows
  int32_t rows;      // <= the kernel's row count
  int32_t head;
  int32_t kvHead;
  HeadCategory category;
};

BS_HOST_DEVICE WorkTile workTileFor(const KernelParams& p, int32_t item) {
  const WorkItem w = p.items[item];
  const QueryChunk c = p.chunks[w.chunk];
  return {c.queryBlock, c.begin, c.end - c.begin, w.head, w.head / p.headsPerKv,
          static_cast<HeadCategory>(p.headCategory[w.head])};
}

}  // namespace bs::cuda
