// libFuzzer harness for the C ABI (native/include/blindsight.h): every input is decoded into a layout (from segments
// or from raw per-token arrays, valid or not), plan options and one attention call with random shapes, element types,
// scale, threads, ISA name, input values (NaN and infinities included) and output aliasing, sized so that every
// pointer covers what the call says it holds; then, for a quarter of the inputs, a streaming calibrator fed the same
// tensors. Built with ASan + UBSan (cmake -DBLINDSIGHT_FUZZ=ON, clang); a crash, a
// sanitizer report, BLINDSIGHT_ERR_INTERNAL, or a non-finite output from finite inputs is a finding.
//   build-fuzz/blindsight_capi_fuzz -max_total_time=60 test/fuzz/corpus   (see docs/architecture.md, "Fuzzing")
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "blindsight.h"

namespace {

class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  uint32_t u32() {
    uint32_t x = 0;
    for (int i = 0; i < 4; ++i) x = (x << 8) | byte();
    return x;
  }
  uint8_t byte() { return i_ < n_ ? p_[i_++] : 0; }
  uint32_t below(uint32_t n) { return n ? u32() % n : 0; }
  bool flag() { return byte() & 1; }
  float value() {
    switch (byte() % 16) {
      case 0: return NAN;
      case 1: return INFINITY;
      case 2: return -INFINITY;
      case 3: return 3e38f;
      case 4: return 1e-40f;  // subnormal
      default: return (static_cast<float>(below(2000)) - 1000.0f) / 250.0f;
    }
  }
  bool empty() const { return i_ >= n_; }

 private:
  const uint8_t* p_;
  size_t n_, i_ = 0;
};

[[noreturn]] void finding(const char* what) {
  std::fprintf(stderr, "FINDING: %s (%s)\n", what, blindsight_last_error());
  std::abort();
}

void expectStatus(blindsight_status s) {
  if (s == BLINDSIGHT_ERR_INTERNAL) finding("internal error");
  if (s != BLINDSIGHT_OK && std::strlen(blindsight_last_error()) == 0) finding("a failure without a message");
}

uint16_t toBits(float x, int32_t dtype) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  if (dtype == BLINDSIGHT_BF16) return static_cast<uint16_t>(b >> 16);
  // f16 by truncation: any bit pattern is a valid input
  const uint32_t sign = (b >> 16) & 0x8000u, exp = (b >> 23) & 0xffu, mant = (b >> 13) & 0x3ffu;
  if (exp == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0u));
  if (exp < 113) return static_cast<uint16_t>(sign);
  if (exp > 142) return static_cast<uint16_t>(sign | 0x7c00u);
  return static_cast<uint16_t>(sign | ((exp - 112) << 10) | mant);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r(data, size);
  blindsight_layout* layout = nullptr;
  int32_t numTokens = 0;
  if (r.flag()) {
    // From segments: 1-3 sequences of 1-5 segments, lengths 0-199 (0 is invalid).
    const int32_t sequences = 1 + static_cast<int32_t>(r.below(3));
    std::vector<blindsight_segment> segs;
    std::vector<int32_t> perSeq;
    for (int32_t s = 0; s < sequences; ++s) {
      const int32_t count = 1 + static_cast<int32_t>(r.below(5));
      perSeq.push_back(count);
      for (int32_t i = 0; i < count; ++i)
        segs.push_back({static_cast<int32_t>(r.below(3)), static_cast<int32_t>(r.below(200))});
    }
    expectStatus(blindsight_layout_from_segments(segs.data(), perSeq.data(), sequences, static_cast<int32_t>(r.below(4)) - 1, &layout));
  } else {
    // Raw arrays, mostly but not always valid.
    const int32_t n = 1 + static_cast<int32_t>(r.below(300));
    const int32_t sequences = 1 + static_cast<int32_t>(r.below(3));
    std::vector<int32_t> cu(sequences + 1, 0);
    for (int32_t s = 1; s < sequences; ++s) cu[s] = std::min(n, cu[s - 1] + static_cast<int32_t>(r.below(static_cast<uint32_t>(n))));
    cu[sequences] = r.below(8) == 0 ? n - 1 : n;
    std::vector<int32_t> ids(n, -1);
    std::vector<uint8_t> sinks(n, 0);
    int32_t image = -1;
    for (int32_t t = 0; t < n; ++t) {
      const uint32_t op = r.below(16);
      if (op == 0) ++image;                 // a new image starts
      else if (op == 1) image = -1;         // back to text
      else if (op == 2 && r.below(8) == 0) image = static_cast<int32_t>(r.below(3));  // maybe a reused id
      ids[t] = image;
      sinks[t] = (t == 0 || (image >= 0 && (t == 0 || ids[t - 1] != image))) ? 1 : (r.below(32) == 0);
    }
    expectStatus(blindsight_layout_create(cu.data(), sequences, ids.data(), sinks.data(), n, &layout));
  }
  if (!layout) return 0;
  numTokens = blindsight_layout_num_tokens(layout);
  const int32_t numSequences = blindsight_layout_num_sequences(layout);

  blindsight_plan_options o;
  blindsight_plan_options_init(&o);
  const int32_t blocks[] = {8, 16, 24, 32, 64, 128, 256, 12, 0, 512};
  o.block_m = blocks[r.below(10)];
  o.block_n = blocks[r.below(10)];
  o.window = r.flag() ? static_cast<int32_t>(r.below(400)) - 2 : 0;
  o.text_keys = r.flag();
  o.bidirectional_images = r.flag();
  o.exhaustive = r.below(8) == 0;
  o.window_keeps_sinks = r.flag();
  blindsight_plan* plan = nullptr;
  expectStatus(blindsight_plan_create(layout, &o, &plan));
  blindsight_layout_destroy(layout);
  if (!plan) return 0;
  blindsight_plan_stats st;
  expectStatus(blindsight_plan_get_stats(plan, &st));

  const int32_t kvHeads = 1 + static_cast<int32_t>(r.below(3));
  const int32_t heads = r.below(16) == 0 ? static_cast<int32_t>(r.below(9)) : kvHeads * (1 + static_cast<int32_t>(r.below(3)));
  const int32_t dims[] = {8, 16, 24, 32, 40, 64, 72, 128, 12, 0};
  const int32_t headDim = dims[r.below(10)];
  const int32_t inType = r.below(16) == 0 ? 3 : static_cast<int32_t>(r.below(3));
  const int32_t outType = r.below(16) == 0 ? 3 : static_cast<int32_t>(r.below(3));
  const size_t inBytes = inType == 0 ? 4 : 2, outBytes = outType == 0 ? 4 : 2;
  const size_t hq = static_cast<size_t>(heads > 0 ? heads : 1), hk = static_cast<size_t>(kvHeads), d = static_cast<size_t>(headDim > 0 ? headDim : 1);
  const size_t qElems = numTokens * hq * d, kvElems = numTokens * hk * d;
  std::vector<uint8_t> q(qElems * 4), k(kvElems * 4), v(kvElems * 4), out(qElems * 4);
  std::vector<float> lse(numTokens * hq);
  bool finite = true;
  auto fill = [&](std::vector<uint8_t>& t, size_t elems) {
    for (size_t i = 0; i < elems; ++i) {
      const float x = r.empty() ? 0.25f : r.value();
      if (inType == BLINDSIGHT_F32) {
        std::memcpy(t.data() + 4 * i, &x, 4);
        finite = finite && std::isfinite(x) && std::fabs(x) < 1e30f;
      } else {
        const uint16_t b = toBits(x, inType == BLINDSIGHT_F16 ? BLINDSIGHT_F16 : BLINDSIGHT_BF16);
        std::memcpy(t.data() + 2 * i, &b, 2);
        finite = finite && std::isfinite(x) && std::fabs(x) < 6e4f;
      }
    }
  };
  fill(q, qElems);
  fill(k, kvElems);
  fill(v, kvElems);
  std::vector<uint8_t> cats(hq);
  for (auto& c : cats) c = static_cast<uint8_t>(r.below(16) == 0 ? 5 : r.below(4));

  blindsight_attention_args a;
  blindsight_attention_args_init(&a);
  a.q = q.data();
  a.k = k.data();
  a.v = v.data();
  a.out = r.below(32) == 0 ? static_cast<void*>(q.data()) : static_cast<void*>(out.data());
  a.lse = r.flag() ? lse.data() : nullptr;
  a.heads = cats.data();
  a.num_heads = heads;
  a.num_kv_heads = kvHeads;
  a.head_dim = headDim;
  const float scales[] = {0.0f, 0.125f, -0.5f, 3e38f, NAN, INFINITY, 1e-30f};
  a.scale = scales[r.below(7)];
  a.input_dtype = inType;
  a.output_dtype = outType;
  a.threads = static_cast<int32_t>(r.below(4));
  const char* isas[] = {nullptr, "generic", "avx2", "avx512", "avx512bf16", "neon", "bogus"};
  a.isa = isas[r.below(7)];
  (void)inBytes;
  (void)outBytes;
  // Query / key ranges (begin, end per sequence; any values, so most multi-sequence draws cross a sequence and are
  // refused) and strides that stay inside the buffers when valid: rows never exceed numTokens.
  std::vector<int32_t> queryRanges(2 * static_cast<size_t>(numSequences)), keyRanges(queryRanges.size());
  bool ranged = false;
  const auto draw = [&](std::vector<int32_t>& v) {
    for (size_t i = 0; i < v.size(); i += 2) {
      const auto x = static_cast<int32_t>(r.below(static_cast<uint32_t>(numTokens) + 2)), y = static_cast<int32_t>(r.below(static_cast<uint32_t>(numTokens) + 2));
      v[i] = r.below(16) == 0 ? std::max(x, y) : std::min(x, y);
      v[i + 1] = r.below(16) == 0 ? std::min(x, y) : std::max(x, y);
    }
  };
  if (r.below(4) == 0) draw(queryRanges), a.query_ranges = queryRanges.data(), ranged = true;
  if (r.below(4) == 0) draw(keyRanges), a.key_ranges = keyRanges.data(), ranged = true;
  if (r.below(8) == 0) {
    const int64_t rows = static_cast<int64_t>(numTokens);
    switch (r.below(4)) {
      case 0: a.k_strides = a.v_strides = {headDim, rows * headDim}; break;  // head-major, as big as packed
      case 1: a.k_strides = {-headDim, headDim}; break;
      case 2: a.k_strides = {headDim, headDim}; break;                        // heads overlap rows
      default: a.q_strides = {static_cast<int64_t>(hq) * headDim, headDim}; break;  // the packed default, spelled out
    }
  }
  const blindsight_status s = blindsight_attention(plan, &a);
  expectStatus(s);
  if (s == BLINDSIGHT_OK && finite && std::isfinite(a.scale) && std::fabs(a.scale) < 1e3f && a.out == out.data() &&
      outType == BLINDSIGHT_F32 && !ranged) {
    for (size_t i = 0; i < qElems; ++i) {
      float x;
      std::memcpy(&x, out.data() + 4 * i, 4);
      if (!std::isfinite(x)) finding("a non-finite output from finite inputs");
    }
  }
  if (r.below(4) == 0) {
    // The streaming calibrator: options (valid or not, the plan's base mask or another), observations of the same
    // tensors (whole prompt), through blindsight_calibrator_observe and the attention step's calibration mode, then
    // the policy and its JSON.
    blindsight_calibrator_options co;
    blindsight_calibrator_options_init(&co);
    co.num_layers = static_cast<int32_t>(r.below(4));
    co.num_heads = heads;
    co.num_kv_heads = kvHeads;
    co.head_dim = headDim;
    co.text_keys = r.flag();
    co.bidirectional_images = r.below(4) == 0 ? !o.bidirectional_images : o.bidirectional_images;
    co.window = r.below(4) == 0 ? static_cast<int32_t>(r.below(50)) : o.window;
    co.scale = scales[r.below(7)];
    co.output_error = r.flag();
    blindsight_calibrator* cal = nullptr;
    expectStatus(blindsight_calibrator_create(&co, &cal));
    if (cal) {
      const int32_t observations = 1 + static_cast<int32_t>(r.below(3));
      for (int32_t i = 0; i < observations; ++i) {
        const int32_t layer = static_cast<int32_t>(r.below(static_cast<uint32_t>(co.num_layers) + 2)) - (r.below(16) == 0);
        if (r.flag()) {
          blindsight_observe_args oa;
          blindsight_observe_args_init(&oa);
          oa.layer = layer;
          oa.q = q.data();
          oa.k = k.data();
          oa.v = r.flag() ? v.data() : nullptr;
          oa.input_dtype = inType;
          oa.scale = scales[r.below(7)];
          oa.sample = r.flag() ? "sample" : nullptr;
          oa.threads = static_cast<int32_t>(r.below(3));
          oa.isa = isas[r.below(7)];
          expectStatus(blindsight_calibrator_observe(cal, plan, &oa));
        } else {
          blindsight_attention_args ca = a;  // the call above, in calibration mode (ranges and strides refused)
          ca.out = out.data();
          if (r.flag()) ca.heads = nullptr;
          expectStatus(blindsight_attention_observe(plan, &ca, cal, layer));
        }
      }
      blindsight_thresholds th;
      blindsight_thresholds_init(&th);
      const double taus[] = {0.95, 0.0, 1.0, 0.5, -1.0, 2.0, NAN};
      th.tau = taus[r.below(7)];
      th.pin_first = static_cast<int32_t>(r.below(3));
      const int32_t pins[] = {0, 5, -1};
      if (r.flag()) th.pin_layers = pins, th.num_pin_layers = 1 + static_cast<int32_t>(r.below(3));
      std::vector<uint8_t> policy(static_cast<size_t>(std::max(co.num_layers, 0)) * hq);
      expectStatus(blindsight_calibrator_policy(cal, r.flag() ? &th : nullptr, policy.data()));
      size_t length = 0;
      const blindsight_status js = blindsight_calibrator_policy_json(cal, &th, r.flag() ? "model" : nullptr, nullptr, 0, &length);
      expectStatus(js);
      if (js == BLINDSIGHT_OK) {
        std::vector<char> text(length + 1);
        expectStatus(blindsight_calibrator_policy_json(cal, &th, nullptr, text.data(), text.size(), &length));
      }
      blindsight_calibrator_destroy(cal);
    }
  }
  blindsight_plan_destroy(plan);
  return 0;
}
