#include "packed_kv.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <new>
#include <string>
#include <utility>

#include "../core/error.h"

namespace bs::cpu {
namespace {

Buffer alignedBuffer(size_t bytes) {
  void* p = alignedAlloc64(bytes);
  if (!p) throw std::bad_alloc();
  return Buffer(static_cast<uint8_t*>(p));
}

// Buffers of the last call, reused by the next one so that repeated calls (one per layer) do not pay fresh pages;
// only up to kKeepBytes each, so a huge prompt does not pin its copies after the call.
struct PackCache {
  std::mutex m;
  Buffer k, v;
  size_t bytes = 0;
};
PackCache g_packCache;
constexpr size_t kKeepBytes = size_t{256} << 20;

}  // namespace

size_t PackedKv::kKeepBytesLimit() { return kKeepBytes; }
std::mutex& PackedKv::cacheMutex() { return g_packCache.m; }
void PackedKv::giveBack(Buffer k, Buffer v, size_t bytes) {
  if (g_packCache.bytes > bytes) return;  // keep the larger pair
  g_packCache.k = std::move(k);
  g_packCache.v = std::move(v);
  g_packCache.bytes = bytes;
}

namespace {

// Copies a row of `elems` elements of type t to dst (when dst is not null) and tells whether it holds a NaN or an
// infinity (an exponent of all ones), in one pass over 32-bit words that the compiler vectorises: checking the copy
// afterwards waited on reading back the rows just stored (two thirds of the copy's time in a micro-batched prefill).
bool copyRowNonFinite(const uint8_t* row, uint8_t* dst, int64_t elems, DType t) {
  const int64_t words = elems * (t == DType::F32 ? 4 : 2) / 4;
  // Both halves of a word of 16-bit elements; the one exponent of an f32.
  const uint32_t exponent = t == DType::F32 ? 0x7f800000u : t == DType::F16 ? 0x7c007c00u : 0x7f807f80u;
  const uint32_t lo = exponent & 0xffffu, hi = exponent & 0xffff0000u;
  uint32_t bad = 0;
  for (int64_t i = 0; i < words; ++i) {
    uint32_t x;
    std::memcpy(&x, row + 4 * i, 4);
    if (dst) std::memcpy(dst + 4 * i, &x, 4);
    bad |= static_cast<uint32_t>((lo && (x & lo) == lo) || (x & hi) == hi);
  }
  if (words * 4 < elems * (t == DType::F32 ? 4 : 2)) {  // an odd number of 16-bit elements: the last one
    uint16_t x;
    std::memcpy(&x, row + 4 * words, 2);
    if (dst) std::memcpy(dst + 4 * words, &x, 2);
    bad |= static_cast<uint32_t>((x & lo) == lo);
  }
  return bad != 0;
}

// 1 for every key row (byToken: layout token) some (category, piece) walk of the call visits: runs as +1 / -1 at their
// ends, gathered keys one by one, then a prefix sum. O(rows + runs + gathered keys).
std::vector<uint8_t> visitedRows(const Plan& plan, const AttentionProblem& p, const std::vector<QueryPiece>& pieces,
                                 int64_t rows, bool byToken = false) {
  std::array<bool, kNumCategories> used{};
  for (int h = 0; h < p.numHeads; ++h) used[static_cast<int>(p.heads[h])] = true;
  std::vector<int32_t> edge(static_cast<size_t>(rows) + 1, 0);
  for (int c = 0; c < kNumCategories; ++c) {
    if (!used[c]) continue;
    for (const QueryPiece& piece : pieces) {
      const int64_t delta = byToken ? 0 : piece.keyDelta;
      for (const KeySpan span : piece.spans(plan, static_cast<HeadCategory>(c))) {
        if (span.size() <= 0) continue;
        if (span.gathered()) {
          for (int32_t i = 0; i < span.size(); ++i) {
            const int64_t r = span.token(i) + delta;
            ++edge[r], --edge[r + 1];
          }
        } else {
          ++edge[span.begin + delta], --edge[span.end + delta];
        }
      }
    }
  }
  std::vector<uint8_t> visited(static_cast<size_t>(rows));
  int64_t depth = 0;
  for (int64_t r = 0; r < rows; ++r) visited[r] = (depth += edge[r]) > 0;
  return visited;
}

// Key rows [t0, t1) of one sequence, whose row of k / v is token + delta.
struct TokenChunk {
  int64_t t0, t1, delta;
};

// The sequences' key tokens in chunks of at most 512, for the pool.
std::vector<TokenChunk> keyChunks(const Plan& plan, const AttentionProblem& p) {
  std::vector<TokenChunk> chunks;
  const Layout& L = plan.layout();
  for (int32_t seq = 0; seq < L.numSequences(); ++seq) {
    const TokenRange keys = p.ranges ? p.ranges->keys(seq) : TokenRange{L.cuSeqlens()[seq], L.cuSeqlens()[seq + 1]};
    const int64_t delta = p.ranges ? p.ranges->keyDelta(seq) : 0;
    for (int64_t t = keys.begin; t < keys.end; t += 512) chunks.push_back({t, std::min<int64_t>(keys.end, t + 512), delta});
  }
  return chunks;
}

// Appends the rows of `c` that `take` accepts as runs of at most 128 consecutive rows: the pool's items for a copy.
// Only runs of rows to copy spread the work evenly: a micro-batch's new rows are one short run at the end of its
// keys, and chunks of the whole key range handed it to a single thread (a 512-row call's copy ran on one).
template <class Take>
void appendRuns(std::vector<TokenChunk>& runs, const TokenChunk& c, Take take) {
  for (int64_t t = c.t0; t < c.t1;) {
    if (!take(t)) {
      ++t;
      continue;
    }
    const int64_t begin = t;
    while (t < c.t1 && t - begin < 128 && take(t)) ++t;
    runs.push_back({begin, t, c.delta});
  }
}

PackedKv packIntoKept(const Plan& plan, const AttentionProblem& p, const std::vector<QueryPiece>& pieces,
                      ThreadPool& workers, int threads, KvPack& keep) {
  const int64_t tokens = plan.layout().numTokens(), d = p.headDim, kvh = p.numKvHeads;
  const size_t es = p.inputType == DType::F32 ? 4 : 2, row = static_cast<size_t>(d) * es;
  if (!keep.k || !keep.v || keep.tokens != tokens || keep.kvHeads != kvh || keep.headDim != d || keep.type != p.inputType) {
    // The old copy goes first (a pack's memory is its largest part) and the pack holds nothing until every part of
    // the new one is there: a failed allocation leaves it empty, never half of one shape and half of another.
    const size_t bytes = static_cast<size_t>(tokens * kvh) * row;
    keep.clear();
    Buffer k = alignedBuffer(bytes), v = alignedBuffer(bytes);
    std::vector<uint8_t> kept(static_cast<size_t>(tokens), 0), nonFinite(static_cast<size_t>(tokens * kvh), 0);
    keep.k = std::move(k);
    keep.v = std::move(v);
    keep.kept = std::move(kept);
    keep.nonFinite = std::move(nonFinite);
    keep.tokens = tokens, keep.kvHeads = static_cast<int32_t>(kvh), keep.headDim = static_cast<int32_t>(d);
    keep.type = p.inputType;
    keep.keptBytes = keep.bytes();
  }
  const std::vector<uint8_t> visited = visitedRows(plan, p, pieces, tokens, true);
  const std::vector<TokenChunk> chunks = keyChunks(plan, p);
  const auto* sk = static_cast<const uint8_t*>(p.k);
  const auto* sv = static_cast<const uint8_t*>(p.v);
  const TensorStrides ks = p.kStrides, vs = p.vStrides;
  const auto src = [&](const uint8_t* base, const TensorStrides& st, int64_t r, int64_t h) {
    return base + static_cast<size_t>(r * st.token + h * st.head) * es;
  };
  const auto dst = [&](uint8_t* base, int64_t t, int64_t h) { return base + static_cast<size_t>(h * tokens + t) * row; };
  // The promise that kept rows did not change, checked on four of the kept rows this call reads (its first, its last
  // and two between): a pack handed another layer's cache, or a rewritten one, differs there.
  int64_t count = 0;
  for (const TokenChunk& c : chunks)
    for (int64_t t = c.t0; t < c.t1; ++t) count += visited[t] & keep.kept[t];
  if (count > 0) {
    const int64_t picks[4] = {0, count / 3, 2 * count / 3, count - 1};
    int64_t i = 0;
    int pick = 0;
    for (const TokenChunk& c : chunks)
      for (int64_t t = c.t0; t < c.t1 && pick < 4; ++t) {
        if (!(visited[t] & keep.kept[t])) continue;
        for (; pick < 4 && picks[pick] == i; ++pick)
          for (int64_t h = 0; h < kvh; ++h)
            if (std::memcmp(src(sk, ks, t + c.delta, h), dst(keep.k.get(), t, h), row) != 0 ||
                std::memcmp(src(sv, vs, t + c.delta, h), dst(keep.v.get(), t, h), row) != 0)
              throw Error(ErrorCode::KV_PACK_STALE,
                          "the k or v row of token " + std::to_string(t) +
                              " differs from the one the KvPack copied before: a pack holds one cache whose rows do "
                              "not change (one layer of one prompt); reset() it when they do");
        ++i;
      }
  }
  std::vector<TokenChunk> runs;
  for (const TokenChunk& c : chunks) appendRuns(runs, c, [&](int64_t t) { return visited[t] && !keep.kept[t]; });
  std::atomic<bool> anyNonFinite{false};
  workers.parallelFor(static_cast<int64_t>(runs.size()), threads, [&](int, int64_t item) {
    const TokenChunk& c = runs[item];
    bool any = false;
    for (int64_t t = c.t0; t < c.t1; ++t) {
      for (int64_t h = 0; h < kvh; ++h) {
        const bool kBad = copyRowNonFinite(src(sk, ks, t + c.delta, h), dst(keep.k.get(), t, h), d, p.inputType);
        const bool vBad = copyRowNonFinite(src(sv, vs, t + c.delta, h), dst(keep.v.get(), t, h), d, p.inputType);
        if (kBad || vBad) {
          keep.nonFinite[static_cast<size_t>(h * tokens + t)] = 1;
          any = true;
        }
      }
      keep.kept[t] = 1;
    }
    if (any) anyNonFinite.store(true, std::memory_order_relaxed);
  });
  int64_t copied = 0;
  for (const TokenChunk& c : runs) copied += c.t1 - c.t0;
  keep.anyNonFinite = keep.anyNonFinite || anyNonFinite.load();
  keep.keptRows += copied;
  PackedKv out{nullptr, nullptr, {keep.k.get(), keep.v.get(), d, tokens * d, tokens}};
  out.view.nonFinite = keep.anyNonFinite ? keep.nonFinite.data() : nullptr;
  out.byToken = true;
  return out;
}

}  // namespace

size_t KvPack::bytes() const {
  return k && v ? 2 * static_cast<size_t>(tokens * kvHeads * headDim) * (type == DType::F32 ? 4 : 2) : 0;
}

void KvPack::clear() {
  k.reset();
  v.reset();
  tokens = 0, kvHeads = 0, headDim = 0;
  kept.clear();
  nonFinite.clear();
  anyNonFinite = false;
  keptRows = 0;
  keptBytes = 0;
}

std::shared_ptr<KvPack> freshKvPack(KvPack& old) {
  auto fresh = std::make_shared<KvPack>();
  std::unique_lock<std::mutex> lk(old.mutex, std::try_to_lock);
  if (!lk.owns_lock()) return fresh;
  fresh->tokens = old.tokens, fresh->kvHeads = old.kvHeads, fresh->headDim = old.headDim, fresh->type = old.type;
  fresh->k = std::move(old.k);
  fresh->v = std::move(old.v);
  fresh->kept.assign(old.kept.size(), 0);
  fresh->nonFinite.assign(old.nonFinite.size(), 0);
  fresh->keptBytes = fresh->bytes();
  old.clear();
  return fresh;
}

PackedKv packKv(const Plan& plan, const AttentionProblem& p, const std::vector<QueryPiece>& pieces, ThreadPool& workers,
                int threads, KvPack* keep) {
  const int64_t n = p.ranges ? p.ranges->keyRows() : plan.layout().numTokens();
  const int64_t d = p.headDim;
  const int64_t kvh = p.numKvHeads;
  const TensorStrides ks = p.kStrides, vs = p.vStrides;
  // In place when one view serves K and V and every head's rows are contiguous.
  const bool sameLayout = ks.token == vs.token && (kvh == 1 || ks.head == vs.head);
  const bool copy = !(sameLayout && (kvh == 1 || ks.token == d));
  if (keep && copy && n > 0) return packIntoKept(plan, p, pieces, workers, threads, *keep);
  PackedKv out{nullptr, nullptr, {p.k, p.v, ks.token, ks.head, n}};
  if (n == 0) return out;
  const size_t es = p.inputType == DType::F32 ? 4 : 2;
  const size_t bytes = static_cast<size_t>(n * kvh * d) * es;
  if (copy) {
    {
      std::unique_lock<std::mutex> lk(g_packCache.m, std::try_to_lock);
      if (lk.owns_lock() && g_packCache.k && g_packCache.bytes >= bytes) {
        out.k = std::move(g_packCache.k);
        out.v = std::move(g_packCache.v);
        out.bytes = g_packCache.bytes;  // the buffers' capacity, kept when they go back
        g_packCache.bytes = 0;
      }
    }
    if (!out.k) {
      // Rounded up to a power of two, so that the growing calls of a prompt prefilled in micro-batches (each against
      // a longer cache) keep reusing one pair of buffers, whose pages are already there, instead of faulting in a
      // fresh, slightly larger pair every time.
      size_t capacity = 64;
      while (capacity < bytes) capacity *= 2;
      out.k = alignedBuffer(capacity);
      out.v = alignedBuffer(capacity);
      out.bytes = capacity;
    }
  }
  out.nonFinite.assign(static_cast<size_t>(n * kvh), 0);
  const std::vector<uint8_t> visited = visitedRows(plan, p, pieces, n);
  std::atomic<bool> anyNonFinite{false};
  std::vector<TokenChunk> runs;
  appendRuns(runs, {0, n, 0}, [&](int64_t t) { return visited[t] != 0; });
  const auto* sk = static_cast<const uint8_t*>(p.k);
  const auto* sv = static_cast<const uint8_t*>(p.v);
  // Row by row, all heads of a row together: a token-major source is read once, front to back (copying one head at a
  // time read it kvh times over, as the prefetchers pull the neighbouring heads' lines too: 3.0 ms against 1.9 ms at
  // 8K tokens, 4 KV heads, measured on the Zen 4 VM).
  workers.parallelFor(static_cast<int64_t>(runs.size()), threads, [&](int, int64_t item) {
    const size_t row = static_cast<size_t>(d) * es;
    bool any = false;
    for (int64_t t = runs[item].t0; t < runs[item].t1; ++t)
      for (int64_t h = 0; h < kvh; ++h) {
        const uint8_t* kr = sk + static_cast<size_t>(t * ks.token + h * ks.head) * es;
        const uint8_t* vr = sv + static_cast<size_t>(t * vs.token + h * vs.head) * es;
        const size_t to = static_cast<size_t>(h * n + t) * row;
        const bool kBad = copyRowNonFinite(kr, copy ? out.k.get() + to : nullptr, d, p.inputType);
        const bool vBad = copyRowNonFinite(vr, copy ? out.v.get() + to : nullptr, d, p.inputType);
        if (kBad || vBad) {
          out.nonFinite[static_cast<size_t>(h * n + t)] = 1;
          any = true;
        }
      }
    if (any) anyNonFinite.store(true, std::memory_order_relaxed);
  });
  if (copy) out.view = {out.k.get(), out.v.get(), d, n * d, n};
  out.view.nonFinite = anyNonFinite.load() ? out.nonFinite.data() : nullptr;
  return out;
}

}  // namespace bs::cpu
