// The K/V copy the CPU backend makes before a call: head-major copies of K and V ([numKvHeads][key rows][headDim])
// unless the caller's K and V are laid out so already, reused across calls.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

#include "../core/plan.h"
#include "../core/problem.h"
#include "kernel.h"
#include "work_order.h"
#include "thread_pool.h"

namespace bs::cpu {

struct FreeDeleter {
  void operator()(void* p) const { alignedFree(p); }
};
using Buffer = std::unique_ptr<uint8_t, FreeDeleter>;

// Head-major copies of K and V ([numKvHeads][key rows][headDim]) when there are several KV heads in a token-major
// layout. There one head's rows are 512-byte pieces at a stride of numKvHeads x 512 bytes: short streams the hardware
// prefetchers do not follow, so without reuse from other heads the kernel waits on memory (measured on the Zen 4 VM:
// 67 useful GFLOP/s per core for 4 KV heads without GQA, 96 with one contiguous head). The copy costs one pass over K
// and V (milliseconds against seconds of attention) and K + V of extra memory. A head-major cache (each head's rows
// contiguous: token stride = headDim, the layout llama.cpp's KV cache views have), or a single KV head, is read in
// place.
// The same pass flags the (token, KV head) rows of k or v that hold a NaN or an infinity (KvView::nonFinite), so the
// kernel can give those keys exact IEEE arithmetic pair by pair; where nothing is copied it only reads K and V.
struct PackedKv {
  Buffer k, v;
  KvView view;
  size_t bytes = 0;
  std::vector<uint8_t> nonFinite;  // [numKvHeads][numTokens]
  bool byToken = false;            // the view's rows are layout tokens (a KvPack's), not the call's key rows
  PackedKv(Buffer k_, Buffer v_, KvView view_) : k(std::move(k_)), v(std::move(v_)), view(view_) {}
  PackedKv(PackedKv&&) = default;
  ~PackedKv() {
    if (!k || bytes > kKeepBytesLimit()) return;
    std::unique_lock<std::mutex> lk(cacheMutex(), std::try_to_lock);
    if (lk.owns_lock()) giveBack(std::move(k), std::move(v), bytes);
  }
  static size_t kKeepBytesLimit();
  static std::mutex& cacheMutex();
  static void giveBack(Buffer k, Buffer v, size_t bytes);
};

// The head-major copy of one KV cache kept from call to call: a layer's cache prefilled in micro-batches (each call's
// keys the cache so far) copies each key row once, when a call first visits it, instead of every row the call visits
// (text queries see the whole cache, so every micro-batch with a text row copied it all again). Rows are kept by
// layout token; the caller promises that a token's k and v rows do not change while the pack holds them (a cache
// appends), and reset() drops them when they do (a new layer, a new prompt). A few kept rows are compared with the
// caller's on every call, so a pack handed another layer's cache fails with KV_PACK_STALE instead of computing with
// stale keys. One call at a time: a call holds `mutex` from its K/V copy to the end of its kernel.
struct KvPack {
  std::mutex mutex;
  // What the rows are; a call of another shape (or another layout's size) starts the pack over.
  int64_t tokens = 0;
  int32_t kvHeads = 0, headDim = 0;
  DType type = DType::F32;
  Buffer k, v;                     // [kvHeads][tokens][headDim]
  std::vector<uint8_t> kept;       // per token: its rows are copied
  std::vector<uint8_t> nonFinite;  // [kvHeads][tokens]
  bool anyNonFinite = false;
  // Tokens kept and the copy's bytes, published at the end of each call so that they can be read without the mutex.
  std::atomic<int64_t> keptRows{0};
  std::atomic<size_t> keptBytes{0};

  size_t bytes() const;
  // Drops the rows and the memory: the pack holds nothing. The caller holds `mutex` or owns the pack alone.
  void clear();
};

// The pack a reset leaves (both handles, Node's and the C ABI's): a fresh one, so that a call still running, which
// holds `old`, does not see its rows vanish and the resetting thread never waits for it. When no call holds `old`,
// the fresh pack takes its memory with no rows kept, so a pack reset for every prompt does not fault in new pages.
std::shared_ptr<KvPack> freshKvPack(KvPack& old);

// pieces: the call's query pieces (work_order.h); only the key rows their walks visit are copied and scanned, since no
// other row is ever read: a micro-batch of sparse heads against a long cache touches its own rows and the scattered
// sinks and text before them, not the whole cache. With `keep` (a token-major cache of several KV heads, the layout the
// copy is for), rows come from and go to the pack, and the view's rows are layout tokens (PackedKv::byToken: the
// kernel reads key token t at row t). The caller holds keep->mutex.
PackedKv packKv(const Plan& plan, const AttentionProblem& p, const std::vector<QueryPiece>& pieces, ThreadPool& workers,
                int threads, KvPack* keep = nullptr);

}  // namespace bs::cpu
