// The streaming calibrator: per-(layer, head) statistics of a model's attention, accumulated from observations of
// single layers of single prompts in any order and from any number of threads, with nothing kept per prompt but a
// line of metadata. What it accumulates is what a policy's meta.calibration holds (docs/calibration.md):
//  - the attention-mass pass's bucket sums and measured rows per (layer, head) (the pooled means), in fixed point, so
//    the sums are the same whatever the order of the observations;
//  - per (layer, head, category), the lowest mean retained mass of any one observation (a sample's mean at that
//    layer), for both textKeys settings;
//  - per prompt, at its first observation, its kept attention pairs per category for both textKeys settings;
//  - with v, per (layer, head, category), the squared error of that category's attention output against dense over
//    the image query rows, and the dense output's squared norm.
// The category choice and the policy file are here too, so the C ABI and the TypeScript layer decide alike.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../../core/mass_buckets.h"
#include "../../core/plan.h"
#include "../../core/problem.h"
#include "../isa.h"

namespace bs::cpu {

struct CalibratorConfig {
  int32_t numLayers = 0;
  int32_t numHeads = 0;
  int32_t numKvHeads = 0;
  int32_t headDim = 0;
  // bidirectionalImages and window define the base mask whose mass is measured: observed plans must have them.
  // textKeys is the policy's default and the plan option under which output errors are measured.
  MaskOptions mask;
  // The score scale of observations that name none; 0 means 1/sqrt(headDim).
  double scale = 0;
  bool mass = true;         // run the attention-mass pass
  bool outputError = false; // measure each category's output error on observations that carry v
};

struct Observation {
  int32_t layer = 0;
  std::shared_ptr<const Plan> plan;
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;            // optional
  const float* denseOut = nullptr;    // optional: f32 [N, numHeads, headDim], the dense attention of q, k, v
  DType inputType = DType::F32;
  double scale = 0;                   // 0: the calibrator's
  std::string sample;                 // the prompt's name, kept from its first observation ("" = "sample <i>")
  int threads = 0;
  Isa isa = Isa::Generic;
};

struct SampleInfo {
  std::string name;
  int64_t numTokens = 0;
  int64_t numImages = 0;
  int64_t imageQueries = 0;
  double scale = 0;
};

// A 64.64 fixed-point sum of non-negative doubles below 2^63: integer additions, so exactly associative.
struct FixedSum {
  uint64_t hi = 0, lo = 0;
  void add(double x);
  double value() const;
};

// What a calibrator has measured, as meta.calibration stores it: means and retained masses rounded to 1e-12, as
// `calibrate` always rounded them (the category choice reads these rounded numbers, so rethreshold agrees with it).
struct CalibrationSummary {
  int32_t numLayers = 0, numHeads = 0;
  MaskOptions mask;
  std::vector<SampleInfo> samples;  // in the order of their first observation
  std::array<double, kNumCategories> keptTextKeys{}, keptNoTextKeys{};  // kept pairs per category, vs dense
  std::vector<int64_t> observations;   // [L]
  std::vector<int64_t> imageQueries;   // [L]: image query rows observed
  std::vector<int64_t> undefinedRows;  // [L][H]: rows left out (mass.h, MassResult::rows)
  std::vector<double> mass;            // [L][H][kMassBuckets]
  std::vector<double> worstTextKeys, worstNoTextKeys;  // [L][H][kNumCategories]
  bool hasOutputError = false;
  bool errorTextKeys = true;
  std::vector<int64_t> errorObservations;  // [L]
  std::vector<int64_t> errorRows;          // [L][H]
  std::vector<double> squaredError;        // [L][H][kNumCategories] (dense: 0)
  std::vector<double> squaredNorm;         // [L][H]
};

class Calibrator {
 public:
  explicit Calibrator(const CalibratorConfig& config);  // throws bs::Error on a bad shape or options
  const CalibratorConfig& config() const { return config_; }
  // Throws bs::Error for an observation observe() would refuse (before it does any work).
  void check(const Observation& o) const;
  // Measures one layer of one prompt and merges it in. Safe to call from several threads at once; the work runs
  // outside the lock, on the CPU pool.
  void observe(const Observation& o);
  // Throws NOT_OBSERVED (a layer without observations) or NO_IMAGE_QUERIES when asked for the statistics a policy
  // needs (`complete`) and they are not all there.
  CalibrationSummary summary(bool complete) const;

 private:
  struct PromptKey {
    std::weak_ptr<const Plan> plan;
    bool operator<(const PromptKey& o) const { return plan.owner_before(o.plan); }
  };
  void registerPrompt(const Observation& o, double scale);

  CalibratorConfig config_;
  mutable std::mutex mutex_;
  // The prompts seen, by plan identity (a weak reference: a prompt's plan is not kept alive).
  std::map<PromptKey, size_t> prompts_;
  std::vector<SampleInfo> samples_;
  std::array<int64_t, kNumCategories> pairsTextKeys_{}, pairsNoTextKeys_{};
  std::vector<int64_t> observations_, imageQueries_, rows_, undefinedRows_;
  std::vector<FixedSum> sums_;                        // [L][H][kMassBuckets]
  std::vector<double> worstTextKeys_, worstNoTextKeys_;  // [L][H][4], +inf until an observation measures a row
  std::vector<int64_t> errorObservations_, errorRows_;
  std::vector<double> squaredError_, squaredNorm_;
};

// The category choice: per head of a layer not pinned, the category with the fewest kept pairs whose mean retained
// mass reaches tau and whose worst observation reaches worstTau (dense always does). mass [L][H][7], worst [L][H][4]
// (for the textKeys setting chosen), kept [4]; pinned [L] (nonzero: dense). Returns [L][H] category codes.
struct Thresholds {
  double tau = 0.95;
  double worstTau = 0.9;
  bool textKeys = true;
  std::vector<uint8_t> pinned;  // [L]
};
std::vector<uint8_t> chooseCategories(int32_t numLayers, int32_t numHeads, const double* mass, const double* worst,
                                      const std::array<double, kNumCategories>& kept, const Thresholds& t);

// The retained mass of a category from a 7-bucket fraction row, summed in the order the TypeScript layer's
// retainedMass() sums it.
double retainedMass(const double* f, HeadCategory c, bool textKeys);

// A policy file (the HeadPolicy JSON, with the statistics in meta.calibration) for the summary, its categories and
// the thresholds and pins that chose them.
struct PolicyPins {
  int32_t first = 0, last = 0;
  std::vector<int32_t> layers;  // sorted, distinct
};
std::string policyJson(const CalibrationSummary& s, const std::vector<uint8_t>& categories, const Thresholds& t,
                       const PolicyPins& pins, const std::string& model);

}  // namespace bs::cpu
