#include "calibrator.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <new>

#include "../../core/error.h"
#include "../../core/problem_checks.h"
#include "../cpu_backend.h"
#include "../thread_pool.h"
#include "mass.h"

namespace bs::cpu {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr HeadCategory kCategories[kNumCategories] = {HeadCategory::Dense, HeadCategory::Sink, HeadCategory::IntraImage,
                                                      HeadCategory::IntraImageSink};
constexpr const char* kCategoryNames[kNumCategories] = {"dense", "sink", "intra-image", "intra-image+sink"};
constexpr const char* kBucketNames[kMassBuckets] = {"self", "ownSink", "ownOther", "textSink", "text", "imageSink", "otherImage"};

// calibrate's rounding of the stored statistics (Math.round(x * 1e12) / 1e12 for x >= 0: both round halves up).
double round12(double x) { return std::round(x * 1e12) / 1e12; }

std::string str(int64_t x) { return std::to_string(x); }

// Per (head): what an observation's output errors add.
struct ErrorSums {
  std::vector<double> squaredError;  // [H][4]
  std::vector<double> squaredNorm;   // [H]
  std::vector<int64_t> rows;         // [H]
};

// Each sparse category's attention output against dense over the image query rows: per row (token, head) the squared
// difference and the dense row's squared norm, then per head the sums over the rows finite under every category, in
// row order (so the sums do not depend on the thread count). One extra output of the layer's size, two with no dense
// output given, and four doubles per row.
ErrorSums outputErrors(const Plan& plan, const Observation& o, const CalibratorConfig& c, float scale) {
  const Layout& L = plan.layout();
  const int64_t n = L.numTokens(), H = c.numHeads, D = c.headDim;
  const size_t outLen = static_cast<size_t>(n * H * D);
  std::vector<HeadCategory> heads(static_cast<size_t>(H), HeadCategory::Dense);
  AttentionProblem p{o.q, o.k, o.v, nullptr, nullptr, o.inputType, DType::F32, c.numHeads, c.numKvHeads, c.headDim,
                     scale, heads.data(), {}, {}, {}, {}, nullptr};  // contiguous, every token
  std::vector<float> dense;
  const float* ref = o.denseOut;
  if (!ref) {
    dense.resize(outLen);
    p.out = dense.data();
    attention(plan, p, o.threads, o.isa);
    ref = dense.data();
  }
  std::vector<float> sparse(outLen);
  p.out = sparse.data();
  std::vector<double> rowErr(static_cast<size_t>(3 * n * H)), rowNorm(static_cast<size_t>(n * H));
  const int32_t* imageIds = L.imageIds().data();
  std::shared_ptr<ThreadPool> workers = pool();
  const int threads = std::clamp(o.threads > 0 ? o.threads : workers->size(), 1, workers->size());
  constexpr int64_t kChunk = 256;
  for (int ci = 1; ci < kNumCategories; ++ci) {
    std::fill(heads.begin(), heads.end(), kCategories[ci]);
    attention(plan, p, o.threads, o.isa);
    workers->parallelFor((n + kChunk - 1) / kChunk, threads, [&](int, int64_t chunk) {
      for (int64_t t = chunk * kChunk; t < std::min(n, (chunk + 1) * kChunk); ++t) {
        if (imageIds[t] < 0) continue;
        for (int64_t h = 0; h < H; ++h) {
          const float* a = ref + (t * H + h) * D;
          const float* b = sparse.data() + (t * H + h) * D;
          double e = 0, r = 0;
          for (int64_t x = 0; x < D; ++x) {
            const double diff = static_cast<double>(b[x]) - a[x];
            e += diff * diff;
            r += static_cast<double>(a[x]) * a[x];
          }
          rowErr[static_cast<size_t>(((ci - 1) * n + t) * H + h)] = e;
          rowNorm[static_cast<size_t>(t * H + h)] = r;
        }
      }
    });
  }
  ErrorSums s;
  s.squaredError.assign(static_cast<size_t>(H * kNumCategories), 0.0);
  s.squaredNorm.assign(static_cast<size_t>(H), 0.0);
  s.rows.assign(static_cast<size_t>(H), 0);
  for (int64_t t = 0; t < n; ++t) {
    if (imageIds[t] < 0) continue;
    for (int64_t h = 0; h < H; ++h) {
      const double r = rowNorm[static_cast<size_t>(t * H + h)];
      double e[3];
      bool finite = std::isfinite(r);
      for (int ci = 0; ci < 3; ++ci) {
        e[ci] = rowErr[static_cast<size_t>((ci * n + t) * H + h)];
        finite = finite && std::isfinite(e[ci]);
      }
      // A row that is not finite under some category (a NaN or an infinity in what it sees) is left out of all.
      if (!finite) continue;
      s.squaredNorm[h] += r;
      for (int ci = 0; ci < 3; ++ci) s.squaredError[h * kNumCategories + ci + 1] += e[ci];
      ++s.rows[h];
    }
  }
  return s;
}

void appendNumber(std::string& out, double x) {
  if (!std::isfinite(x)) {
    out += "null";
    return;
  }
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, x);
  out.append(buf, r.ptr);
}

void appendString(std::string& out, const std::string& s) {
  out += '"';
  for (const unsigned char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (ch < 0x20) {
          static const char* hex = "0123456789abcdef";
          out += "\\u00";
          out += hex[ch >> 4];
          out += hex[ch & 15];
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
  out += '"';
}

// [L][H][width] nested arrays from a flat array.
template <class T>
void appendGrid(std::string& out, const std::vector<T>& v, int32_t L, int32_t H, int width) {
  out += '[';
  for (int32_t l = 0; l < L; ++l) {
    out += l ? ",[" : "[";
    for (int32_t h = 0; h < H; ++h) {
      if (h) out += ',';
      if (width > 0) out += '[';
      for (int w = 0; w < std::max(width, 1); ++w) {
        if (w) out += ',';
        appendNumber(out, static_cast<double>(v[(static_cast<size_t>(l) * H + h) * std::max(width, 1) + w]));
      }
      if (width > 0) out += ']';
    }
    out += ']';
  }
  out += ']';
}

void appendPerCategory(std::string& out, const std::array<double, kNumCategories>& k) {
  out += '{';
  for (int c = 0; c < kNumCategories; ++c) {
    if (c) out += ',';
    appendString(out, kCategoryNames[c]);
    out += ':';
    appendNumber(out, k[c]);
  }
  out += '}';
}

}  // namespace

void FixedSum::add(double x) {
  // x in [0, 2^63): the integer part and 64 fractional bits (truncated: at most 2^-64 per term).
  const double whole = std::floor(x);
  const uint64_t fraction = static_cast<uint64_t>((x - whole) * 18446744073709551616.0);
  const uint64_t before = lo;
  lo += fraction;
  hi += static_cast<uint64_t>(whole) + (lo < before ? 1 : 0);
}

double FixedSum::value() const { return static_cast<double>(hi) + static_cast<double>(lo) * 5.421010862427522e-20; }

Calibrator::Calibrator(const CalibratorConfig& c) : config_(c) {
  if (c.numLayers < 1 || c.numLayers > (1 << 20))
    throw Error(ErrorCode::BAD_ARGUMENT, "numLayers must be an integer in [1, 1048576], got " + str(c.numLayers));
  checkHeadCounts(c.numHeads, c.numKvHeads);
  if (c.headDim < 1 || c.headDim > 1024)
    throw Error(ErrorCode::BAD_HEAD_DIM, "the calibrator takes headDim in [1, 1024], got " + str(c.headDim));
  if (c.outputError) checkAttentionHeadDim(c.headDim);
  if (c.mask.window < 0) throw Error(ErrorCode::BAD_WINDOW, "window must be 0 (none) or a positive integer");
  if (!c.mass && !c.outputError)
    throw Error(ErrorCode::BAD_OPTION, "a calibrator that measures neither the attention mass nor output errors has nothing to do");
  resolveScale(c.scale, c.headDim);
  const size_t L = static_cast<size_t>(c.numLayers), LH = L * c.numHeads;
  observations_.assign(L, 0);
  imageQueries_.assign(L, 0);
  rows_.assign(LH, 0);
  undefinedRows_.assign(LH, 0);
  sums_.assign(LH * kMassBuckets, FixedSum{});
  worstTextKeys_.assign(LH * kNumCategories, kInf);
  worstNoTextKeys_.assign(LH * kNumCategories, kInf);
  errorObservations_.assign(L, 0);
  errorRows_.assign(LH, 0);
  squaredError_.assign(LH * kNumCategories, 0.0);
  squaredNorm_.assign(LH, 0.0);
}

void Calibrator::registerPrompt(const Observation& o, double scale) {
  const PromptKey key{o.plan};
  if (prompts_.count(key)) return;
  const Plan& plan = *o.plan;
  const Layout& L = plan.layout();
  SampleInfo s;
  s.name = o.sample.empty() ? "sample " + str(static_cast<int64_t>(samples_.size())) : o.sample;
  s.numTokens = L.numTokens();
  for (const Segment& g : L.segments()) s.numImages += g.imageId >= 0;
  for (const int32_t id : L.imageIds()) s.imageQueries += id >= 0;
  s.scale = scale;
  // Kept pairs under both textKeys settings: the observed plan gives one, a plan of the other setting (sharing the
  // observed plan's layout) the other.
  PlanOptions other = plan.options();
  other.mask.textKeys = !other.mask.textKeys;
  const Plan otherPlan(std::shared_ptr<const Layout>(o.plan, &plan.layout()), other);
  const PlanStats& mine = plan.stats();
  const PlanStats& theirs = otherPlan.stats();
  const bool tk = plan.options().mask.textKeys;
  for (int c = 0; c < kNumCategories; ++c) {
    (tk ? pairsTextKeys_ : pairsNoTextKeys_)[c] += mine.category[c].visiblePairs;
    (tk ? pairsNoTextKeys_ : pairsTextKeys_)[c] += theirs.category[c].visiblePairs;
  }
  prompts_.emplace(key, samples_.size());
  samples_.push_back(std::move(s));
}

void Calibrator::check(const Observation& o) const {
  const CalibratorConfig& c = config_;
  if (o.layer < 0 || o.layer >= c.numLayers)
    throw Error(ErrorCode::BAD_ARGUMENT, "layer must be an integer in [0, " + str(c.numLayers - 1) + "], got " + str(o.layer));
  if (!o.plan) throw Error(ErrorCode::BAD_ARGUMENT, "an observation needs the prompt's plan");
  if (!o.q || !o.k) throw Error(ErrorCode::BAD_ARGUMENT, "an observation needs q and k");
  if (o.inputType != DType::F32 && o.inputType != DType::F16 && o.inputType != DType::BF16)
    throw Error(ErrorCode::UNSUPPORTED_DTYPE, "q, k and v must be f32, f16 or bf16");
  const MaskOptions& pm = o.plan->options().mask;
  if (pm.bidirectionalImages != c.mask.bidirectionalImages || pm.window != c.mask.window)
    throw Error(ErrorCode::BAD_OPTION,
                "the plan's base mask (bidirectionalImages " + std::string(pm.bidirectionalImages ? "true" : "false") +
                    ", window " + str(pm.window) + ") is not the calibrator's (bidirectionalImages " +
                    (c.mask.bidirectionalImages ? "true" : "false") + ", window " + str(c.mask.window) +
                    "): build the prompt's plan with the calibrator's mask options");
  if (o.denseOut && !o.v) throw Error(ErrorCode::BAD_OPTION, "a dense output is only read with v (output errors)");
  const bool errors = o.v != nullptr;
  if (errors && !c.outputError)
    throw Error(ErrorCode::BAD_OPTION, "v is only read by a calibrator that measures output errors (outputError)");
  if (errors && pm.textKeys != c.mask.textKeys)
    throw Error(ErrorCode::BAD_OPTION, std::string("output errors are measured with textKeys ") +
                                           (c.mask.textKeys ? "true" : "false") + ", but the plan has textKeys " +
                                           (pm.textKeys ? "true" : "false"));
  if (!c.mass && !errors)
    throw Error(ErrorCode::BAD_OPTION, "this calibrator measures output errors only: an observation needs v");
  if (o.scale != 0) resolveScale(o.scale, c.headDim);
}

void Calibrator::observe(const Observation& o) {
  check(o);
  const CalibratorConfig& c = config_;
  const bool errors = o.v != nullptr;
  const double scale = o.scale != 0 ? o.scale : c.scale != 0 ? c.scale : 1.0 / std::sqrt(static_cast<double>(c.headDim));
  const float scale32 = resolveScale(scale, c.headDim);

  MassResult mass;
  if (c.mass) {
    MassProblem mp{o.q, o.k, o.inputType, c.numHeads, c.numKvHeads, c.headDim, scale32, nullptr};
    mass = attentionMass(*o.plan, mp, o.threads, o.isa);
  }
  ErrorSums err;
  if (errors) err = outputErrors(*o.plan, o, c, scale32);

  const int64_t H = c.numHeads;
  const size_t base = static_cast<size_t>(o.layer) * H;
  std::lock_guard<std::mutex> lock(mutex_);
  registerPrompt(o, scale);
  if (c.mass) {
    ++observations_[o.layer];
    imageQueries_[o.layer] += mass.imageQueries;
    for (int64_t h = 0; h < H; ++h) {
      rows_[base + h] += mass.rows[h];
      undefinedRows_[base + h] += mass.imageQueries - mass.rows[h];
      double mean[kMassBuckets];
      for (int b = 0; b < kMassBuckets; ++b) {
        const double sum = mass.perHead[h * kMassBuckets + b];
        sums_[(base + h) * kMassBuckets + b].add(sum);
        mean[b] = mass.rows[h] > 0 ? sum / static_cast<double>(mass.rows[h]) : 0.0;
      }
      if (mass.rows[h] == 0) continue;
      for (int ci = 0; ci < kNumCategories; ++ci) {
        double& wt = worstTextKeys_[(base + h) * kNumCategories + ci];
        double& wn = worstNoTextKeys_[(base + h) * kNumCategories + ci];
        wt = std::min(wt, retainedMass(mean, kCategories[ci], true));
        wn = std::min(wn, retainedMass(mean, kCategories[ci], false));
      }
    }
  }
  if (errors) {
    ++errorObservations_[o.layer];
    for (int64_t h = 0; h < H; ++h) {
      errorRows_[base + h] += err.rows[h];
      squaredNorm_[base + h] += err.squaredNorm[h];
      for (int ci = 0; ci < kNumCategories; ++ci)
        squaredError_[(base + h) * kNumCategories + ci] += err.squaredError[h * kNumCategories + ci];
    }
  }
}

CalibrationSummary Calibrator::summary(bool complete) const {
  const CalibratorConfig& c = config_;
  const int32_t L = c.numLayers, H = c.numHeads;
  std::lock_guard<std::mutex> lock(mutex_);
  if (complete) {
    if (!c.mass)
      throw Error(ErrorCode::BAD_OPTION, "this calibrator measures output errors only; a policy needs the attention mass");
    int64_t any = 0;
    for (const int64_t x : observations_) any += x;
    if (any == 0) throw Error(ErrorCode::NOT_OBSERVED, "the calibrator has not observed anything yet: observe every layer of some prompts first");
    for (int32_t l = 0; l < L; ++l) {
      if (observations_[l] == 0)
        throw Error(ErrorCode::NOT_OBSERVED, "layer " + str(l) + " has no observation; a policy needs every layer of the model (0.." +
                                                 str(L - 1) + ") observed on at least one prompt");
      if (imageQueries_[l] == 0)
        throw Error(ErrorCode::NO_IMAGE_QUERIES, "no prompt observed at layer " + str(l) +
                                                     " has an image token: calibration measures where image queries attend");
    }
  }
  CalibrationSummary s;
  s.numLayers = L;
  s.numHeads = H;
  s.mask = c.mask;
  s.samples = samples_;
  for (int ci = 0; ci < kNumCategories; ++ci) {
    s.keptTextKeys[ci] = pairsTextKeys_[0] > 0 ? static_cast<double>(pairsTextKeys_[ci]) / static_cast<double>(pairsTextKeys_[0]) : 0.0;
    s.keptNoTextKeys[ci] = pairsNoTextKeys_[0] > 0 ? static_cast<double>(pairsNoTextKeys_[ci]) / static_cast<double>(pairsNoTextKeys_[0]) : 0.0;
  }
  s.observations = observations_;
  s.imageQueries = imageQueries_;
  s.undefinedRows = undefinedRows_;
  const size_t LH = static_cast<size_t>(L) * H;
  s.mass.resize(LH * kMassBuckets);
  for (size_t i = 0; i < LH; ++i)
    for (int b = 0; b < kMassBuckets; ++b)
      s.mass[i * kMassBuckets + b] = rows_[i] > 0 ? round12(sums_[i * kMassBuckets + b].value() / static_cast<double>(rows_[i])) : 0.0;
  // A head without a measured row has no retained mass to speak of: 0, so it stays dense.
  const auto worst = [](double w) { return w == kInf ? 0.0 : round12(w); };
  s.worstTextKeys.resize(LH * kNumCategories);
  s.worstNoTextKeys.resize(LH * kNumCategories);
  for (size_t i = 0; i < LH * kNumCategories; ++i) {
    s.worstTextKeys[i] = worst(worstTextKeys_[i]);
    s.worstNoTextKeys[i] = worst(worstNoTextKeys_[i]);
  }
  s.hasOutputError = c.outputError;
  s.errorTextKeys = c.mask.textKeys;
  s.errorObservations = errorObservations_;
  s.errorRows = errorRows_;
  s.squaredError = squaredError_;
  s.squaredNorm = squaredNorm_;
  return s;
}

double retainedMass(const double* f, HeadCategory c, bool textKeys) {
  const double self = f[0], ownSink = f[1], ownOther = f[2], textSink = f[3], text = f[4], imageSink = f[5];
  const double t = textKeys ? text : 0;
  switch (c) {
    case HeadCategory::Dense: return self + ownSink + ownOther + textSink + text + imageSink + f[6];
    case HeadCategory::Sink: return self + ownSink + textSink + imageSink + t;
    case HeadCategory::IntraImage: return self + ownSink + ownOther + (textKeys ? textSink : 0) + t;
    case HeadCategory::IntraImageSink: return self + ownSink + ownOther + textSink + imageSink + t;
  }
  return 0;
}

std::vector<uint8_t> chooseCategories(int32_t L, int32_t H, const double* mass, const double* worst,
                                      const std::array<double, kNumCategories>& kept, const Thresholds& t) {
  std::vector<uint8_t> out(static_cast<size_t>(L) * H, 0);
  struct Candidate {
    int category;
    double kept, retained, worst;
  };
  for (int32_t l = 0; l < L; ++l) {
    if (static_cast<size_t>(l) < t.pinned.size() && t.pinned[l]) continue;
    for (int32_t h = 0; h < H; ++h) {
      const size_t at = static_cast<size_t>(l) * H + h;
      Candidate cand[3];
      for (int i = 0; i < 3; ++i)
        cand[i] = {i + 1, kept[i + 1], retainedMass(mass + at * kMassBuckets, kCategories[i + 1], t.textKeys),
                   worst[at * kNumCategories + i + 1]};
      // Fewest kept pairs first, then the most retained mass; a stable insertion sort, as Array.prototype.sort is.
      const auto before = [](const Candidate& a, const Candidate& b) {
        return a.kept < b.kept || (a.kept == b.kept && a.retained > b.retained);
      };
      for (int i = 1; i < 3; ++i)
        for (int j = i; j > 0 && before(cand[j], cand[j - 1]); --j) std::swap(cand[j], cand[j - 1]);
      for (const Candidate& x : cand)
        if (x.retained >= t.tau && x.worst >= t.worstTau) {
          out[at] = static_cast<uint8_t>(x.category);
          break;
        }
    }
  }
  return out;
}

std::string policyJson(const CalibrationSummary& s, const std::vector<uint8_t>& categories, const Thresholds& t,
                       const PolicyPins& pins, const std::string& model) {
  const int32_t L = s.numLayers, H = s.numHeads;
  std::string o;
  o.reserve(static_cast<size_t>(L) * H * 200 + 4096);
  o += "{\"format\":\"blindsight-policy\",\"version\":1,";
  if (!model.empty()) {
    o += "\"model\":";
    appendString(o, model);
    o += ',';
  }
  o += "\"numLayers\":" + str(L) + ",\"numHeads\":" + str(H) + ",\"categories\":[";
  for (int32_t l = 0; l < L; ++l) {
    o += l ? ",[" : "[";
    for (int32_t h = 0; h < H; ++h) {
      if (h) o += ',';
      appendString(o, kCategoryNames[categories[static_cast<size_t>(l) * H + h]]);
    }
    o += ']';
  }
  o += "],\"meta\":{\"calibration\":{\"version\":1,\"threshold\":";
  appendNumber(o, t.tau);
  o += ",\"worstSampleThreshold\":";
  appendNumber(o, t.worstTau);
  o += std::string(",\"textKeys\":") + (t.textKeys ? "true" : "false");
  o += std::string(",\"bidirectionalImages\":") + (s.mask.bidirectionalImages ? "true" : "false");
  o += ",\"window\":" + (s.mask.window > 0 ? str(s.mask.window) : std::string("null"));
  o += ",\"pinned\":{\"first\":" + str(pins.first) + ",\"last\":" + str(pins.last) + ",\"layers\":[";
  for (size_t i = 0; i < pins.layers.size(); ++i) {
    if (i) o += ',';
    o += str(pins.layers[i]);
  }
  o += "]},\"buckets\":[";
  for (int b = 0; b < kMassBuckets; ++b) {
    if (b) o += ',';
    appendString(o, kBucketNames[b]);
  }
  o += "],\"samples\":[";
  for (size_t i = 0; i < s.samples.size(); ++i) {
    const SampleInfo& x = s.samples[i];
    o += i ? ",{\"name\":" : "{\"name\":";
    appendString(o, x.name);
    o += ",\"numTokens\":" + str(x.numTokens) + ",\"numImages\":" + str(x.numImages) + ",\"imageQueries\":" + str(x.imageQueries) + ",\"scale\":";
    appendNumber(o, x.scale);
    o += '}';
  }
  o += "],\"keptRatio\":{\"textKeys\":";
  appendPerCategory(o, s.keptTextKeys);
  o += ",\"noTextKeys\":";
  appendPerCategory(o, s.keptNoTextKeys);
  o += "},\"mass\":";
  appendGrid(o, s.mass, L, H, kMassBuckets);
  o += ",\"worstSample\":{\"textKeys\":";
  appendGrid(o, s.worstTextKeys, L, H, kNumCategories);
  o += ",\"noTextKeys\":";
  appendGrid(o, s.worstNoTextKeys, L, H, kNumCategories);
  o += '}';
  if (std::any_of(s.undefinedRows.begin(), s.undefinedRows.end(), [](int64_t x) { return x > 0; })) {
    o += ",\"undefinedRows\":";
    appendGrid(o, s.undefinedRows, L, H, 0);
  }
  if (s.hasOutputError) {
    o += std::string(",\"outputError\":{\"textKeys\":") + (s.errorTextKeys ? "true" : "false") + ",\"observations\":[";
    for (int32_t l = 0; l < L; ++l) {
      if (l) o += ',';
      o += str(s.errorObservations[l]);
    }
    o += "],\"rows\":";
    appendGrid(o, s.errorRows, L, H, 0);
    o += ",\"squaredError\":";
    appendGrid(o, s.squaredError, L, H, kNumCategories);
    o += ",\"squaredNorm\":";
    appendGrid(o, s.squaredNorm, L, H, 0);
    o += '}';
  }
  o += "}}}";
  return o;
}

}  // namespace bs::cpu
