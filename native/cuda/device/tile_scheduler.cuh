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
  TokenRange keys;   // the call's keys of the rows' sequence
  bool clipKeys;     // keys is not the whole sequence
  int64_t queryDelta, keyDelta;

  // Element offsets of a query token's row of q / out and of a key token's row of k / v (core/call_ranges.h).
  BS_HOST_DEVICE int64_t qAt(const KernelParams& p, int32_t token) const {
    return (token + queryDelta) * p.qStrides.token + head * p.qStrides.head;
  }
  BS_HOST_DEVICE int64_t outAt(const KernelParams& p, int32_t token) const {
    return (token + queryDelta) * p.outStrides.token + head * p.outStrides.head;
  }
  BS_HOST_DEVICE int64_t lseAt(const KernelParams& p, int32_t token) const { return (token + queryDelta) * p.numHeads + head; }
  BS_HOST_DEVICE int64_t kAt(const KernelParams& p, int32_t token) const {
    return (token + keyDelta) * p.kStrides.token + kvHead * p.kStrides.head;
  }
  BS_HOST_DEVICE int64_t vAt(const KernelParams& p, int32_t token) const {
    return (token + keyDelta) * p.vStrides.token + kvHead * p.vStrides.head;
  }
};

BS_HOST_DEVICE WorkTile workTileFor(const KernelParams& p, int32_t item) {
  const WorkItem w = p.items[item];
  const QueryChunk c = p.chunks[w.chunk];
  return {c.queryBlock, c.begin, c.end - c.begin, w.head, w.head / p.headsPerKv,
          static_cast<HeadCategory>(p.headCategory[w.head]), TokenRange{c.keyBegin, c.keyEnd}, c.clipKeys != 0,
          c.queryDelta, c.keyDelta};
}

}  // namespace bs::cuda
