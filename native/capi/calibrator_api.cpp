// The streaming calibrator behind an opaque handle (cpu/mass/calibrator.h), and the calibration mode of the attention
// step. C callers have no TS layer in front of them: every argument is checked here, with the codes the TS layer
// gives the same mistakes, before any work runs.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../core/problem_checks.h"
#include "../cpu/mass/calibrator.h"
#include "guard.h"
#include "handles.h"

struct blindsight_calibrator {
  std::shared_ptr<bs::cpu::Calibrator> calibrator;
};

namespace bs::capi {
namespace {

DType dtypeOf(int32_t d, const char* name) {
  if (d != BLINDSIGHT_F32 && d != BLINDSIGHT_F16 && d != BLINDSIGHT_BF16)
    throw Error(ErrorCode::UNSUPPORTED_DTYPE,
                std::string(name) + " must be a blindsight_dtype (BLINDSIGHT_F32, BLINDSIGHT_F16 or BLINDSIGHT_BF16)");
  return static_cast<DType>(d);
}

cpu::Isa isaNamed(const char* name) { return name == nullptr ? cpu::defaultIsa() : cpu::parseIsa(name); }

void checkLayer(const cpu::Calibrator& c, int32_t layer) {
  if (layer < 0 || layer >= c.config().numLayers)
    invalid("layer must be in [0, " + std::to_string(c.config().numLayers - 1) + "], got " + std::to_string(layer));
}

struct Resolved {
  cpu::Thresholds thresholds;
  cpu::PolicyPins pins;
};

// The thresholds as the TS layer resolves them (lib/calibration/stats.ts, thresholdOptions and checkPins).
Resolved resolve(const cpu::Calibrator& c, const blindsight_thresholds* given) {
  blindsight_thresholds t;
  blindsight_thresholds_init(&t);
  if (given) t = *given;
  const int32_t L = c.config().numLayers;
  if (!(t.tau >= 0 && t.tau <= 1)) invalid("tau must be in [0, 1], got " + std::to_string(t.tau));
  const double worstTau = t.worst_tau < 0 ? std::max(0.0, std::round((t.tau - 0.05) * 1e9) / 1e9) : t.worst_tau;
  if (!(worstTau <= 1)) invalid("worst_tau must be in [0, 1] (or negative for tau - 0.05), got " + std::to_string(t.worst_tau));
  if (t.pin_first < 0 || t.pin_last < 0) invalid("pin_first and pin_last must be >= 0");
  if (t.num_pin_layers < 0) invalid("num_pin_layers must be >= 0");
  if (t.num_pin_layers > 0) requireNonNull(t.pin_layers, "thresholds->pin_layers");
  std::set<int32_t> layers;
  for (int32_t i = 0; i < t.num_pin_layers; ++i) {
    const int32_t l = t.pin_layers[i];
    if (l < 0 || l >= L)
      invalid("pinned layer " + std::to_string(l) + " does not exist (the model has " + std::to_string(L) + " layers)");
    layers.insert(l);
  }
  Resolved r;
  r.thresholds.tau = t.tau;
  r.thresholds.worstTau = worstTau;
  r.thresholds.textKeys = t.text_keys < 0 ? c.config().mask.textKeys : t.text_keys != 0;
  r.thresholds.pinned.assign(static_cast<size_t>(L), 0);
  for (const int32_t l : layers) r.thresholds.pinned[l] = 1;
  for (int32_t l = 0; l < std::min(t.pin_first, L); ++l) r.thresholds.pinned[l] = 1;
  for (int32_t l = std::max(0, L - t.pin_last); l < L; ++l) r.thresholds.pinned[l] = 1;
  r.pins.first = t.pin_first;
  r.pins.last = t.pin_last;
  r.pins.layers.assign(layers.begin(), layers.end());
  return r;
}

std::vector<uint8_t> categoriesOf(const cpu::CalibrationSummary& s, const cpu::Thresholds& t) {
  return cpu::chooseCategories(s.numLayers, s.numHeads, s.mass.data(),
                               t.textKeys ? s.worstTextKeys.data() : s.worstNoTextKeys.data(),
                               t.textKeys ? s.keptTextKeys : s.keptNoTextKeys, t);
}

}  // namespace
}  // namespace bs::capi

using namespace bs::capi;

extern "C" {

void blindsight_calibrator_options_init(blindsight_calibrator_options* options) {
  if (!options) return;
  *options = blindsight_calibrator_options{};
  options->text_keys = 1;
}

blindsight_status blindsight_calibrator_create(const blindsight_calibrator_options* options,
                                               blindsight_calibrator** out_calibrator) {
  return guarded([&] {
    requireNonNull(out_calibrator, "out_calibrator");
    *out_calibrator = nullptr;
    requireNonNull(options, "options");
    bs::cpu::CalibratorConfig c;
    c.numLayers = options->num_layers;
    c.numHeads = options->num_heads;
    c.numKvHeads = options->num_kv_heads;
    c.headDim = options->head_dim;
    c.mask.textKeys = options->text_keys != 0;
    c.mask.bidirectionalImages = options->bidirectional_images != 0;
    c.mask.window = options->window;
    c.scale = options->scale;
    c.outputError = options->output_error != 0;
    *out_calibrator = new blindsight_calibrator{std::make_shared<bs::cpu::Calibrator>(c)};
  });
}

void blindsight_calibrator_destroy(blindsight_calibrator* calibrator) { delete calibrator; }

void blindsight_observe_args_init(blindsight_observe_args* args) {
  if (args) *args = blindsight_observe_args{};
}

blindsight_status blindsight_calibrator_observe(blindsight_calibrator* calibrator, const blindsight_plan* plan,
                                                const blindsight_observe_args* args) {
  return guarded([&] {
    requireNonNull(calibrator, "calibrator");
    requireNonNull(plan, "plan");
    requireNonNull(args, "args");
    requireNonNull(args->q, "args->q");
    requireNonNull(args->k, "args->k");
    const bs::cpu::Calibrator& c = *calibrator->calibrator;
    checkLayer(c, args->layer);
    if (args->threads < 0) invalid("threads must be >= 0 (0 = the pool's size)");
    bs::cpu::Observation o;
    o.layer = args->layer;
    o.plan = plan->plan;
    o.q = args->q;
    o.k = args->k;
    o.v = args->v;
    o.inputType = dtypeOf(args->input_dtype, "input_dtype");
    o.scale = args->scale;
    o.sample = args->sample ? args->sample : "";
    o.threads = args->threads;
    o.isa = isaNamed(args->isa);
    calibrator->calibrator->observe(o);
  });
}

blindsight_status blindsight_attention_observe(const blindsight_plan* plan, const blindsight_attention_args* args,
                                               blindsight_calibrator* calibrator, int32_t layer) {
  blindsight_attention_args dense{};
  std::vector<uint8_t> heads;
  bs::cpu::Observation o;
  blindsight_status st = guarded([&] {
    requireNonNull(calibrator, "calibrator");
    requireNonNull(plan, "plan");
    requireNonNull(args, "args");
    requireNonNull(args->q, "args->q");
    requireNonNull(args->k, "args->k");
    requireNonNull(args->v, "args->v");
    const bs::cpu::Calibrator& c = *calibrator->calibrator;
    const bs::cpu::CalibratorConfig& cfg = c.config();
    checkLayer(c, layer);
    if (args->num_heads != cfg.numHeads || args->num_kv_heads != cfg.numKvHeads || args->head_dim != cfg.headDim)
      throw bs::Error(bs::ErrorCode::SHAPE_MISMATCH,
                      "args has " + std::to_string(args->num_heads) + " / " + std::to_string(args->num_kv_heads) +
                          " heads of dim " + std::to_string(args->head_dim) + "; the calibrator's model has " +
                          std::to_string(cfg.numHeads) + " / " + std::to_string(cfg.numKvHeads) + " of dim " +
                          std::to_string(cfg.headDim));
    if (args->heads)
      for (int32_t h = 0; h < args->num_heads; ++h)
        if (args->heads[h] != BLINDSIGHT_DENSE)
          throw bs::Error(bs::ErrorCode::BAD_OPTION, "in calibration mode every head is dense; args->heads[" +
                                                         std::to_string(h) + "] is " + std::to_string(args->heads[h]));
    const bs::DType out = dtypeOf(args->output_dtype, "output_dtype");
    o.layer = layer;
    o.plan = plan->plan;
    o.q = args->q;
    o.k = args->k;
    o.inputType = dtypeOf(args->input_dtype, "input_dtype");
    if (cfg.outputError) {
      o.v = args->v;
      if (out == bs::DType::F32) o.denseOut = static_cast<const float*>(args->out);
    }
    // The observation measures the scores the model computed, whatever the calibrator's own default.
    o.scale = args->scale != 0 ? static_cast<double>(args->scale) : 1.0 / std::sqrt(static_cast<double>(args->head_dim));
    o.threads = std::max(0, args->threads);
    o.isa = isaNamed(args->isa);
    c.check(o);
    heads.assign(static_cast<size_t>(args->num_heads), BLINDSIGHT_DENSE);
    dense = *args;
    dense.heads = heads.data();
  });
  if (st != BLINDSIGHT_OK) return st;
  st = blindsight_attention(plan, &dense);
  if (st != BLINDSIGHT_OK) return st;
  return guarded([&] { calibrator->calibrator->observe(o); });
}

void blindsight_thresholds_init(blindsight_thresholds* thresholds) {
  if (!thresholds) return;
  *thresholds = blindsight_thresholds{};
  thresholds->tau = 0.95;
  thresholds->worst_tau = -1;
  thresholds->text_keys = -1;
}

blindsight_status blindsight_calibrator_policy(const blindsight_calibrator* calibrator,
                                               const blindsight_thresholds* thresholds, uint8_t* categories) {
  return guarded([&] {
    requireNonNull(calibrator, "calibrator");
    requireNonNull(categories, "categories");
    const bs::cpu::Calibrator& c = *calibrator->calibrator;
    const Resolved r = resolve(c, thresholds);
    const std::vector<uint8_t> cats = categoriesOf(c.summary(true), r.thresholds);
    std::memcpy(categories, cats.data(), cats.size());
  });
}

blindsight_status blindsight_calibrator_policy_json(const blindsight_calibrator* calibrator,
                                                    const blindsight_thresholds* thresholds, const char* model,
                                                    char* buffer, size_t size, size_t* length) {
  return guarded([&] {
    requireNonNull(calibrator, "calibrator");
    requireNonNull(length, "length");
    const bs::cpu::Calibrator& c = *calibrator->calibrator;
    const Resolved r = resolve(c, thresholds);
    const bs::cpu::CalibrationSummary s = c.summary(true);
    const std::string json = bs::cpu::policyJson(s, categoriesOf(s, r.thresholds), r.thresholds, r.pins, model ? model : "");
    *length = json.size();
    if (!buffer) return;
    if (size < json.size() + 1)
      invalid("the buffer holds " + std::to_string(size) + " bytes; the policy needs " + std::to_string(json.size() + 1) +
              " (see *length)");
    std::memcpy(buffer, json.c_str(), json.size() + 1);
  });
}

}  // extern "C"
