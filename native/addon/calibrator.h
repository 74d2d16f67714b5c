#pragma once
#include <napi.h>

#include <memory>

#include "../cpu/mass/calibrator.h"

namespace bs::addon {

// NativeCalibrator: the JS handle of a cpu::Calibrator.
//   new NativeCalibrator({ numLayers, numHeads, numKvHeads, headDim, textKeys, bidirectionalImages, window (0 = none),
//                          scale (0 = 1/sqrt(headDim)), mass, outputError })
//   observeSync(args) / observeAsync(args) -> undefined / Promise, args { layer, plan, q, k, v?, denseOut?, inputDtype,
//                          scale (0 = the calibrator's), sample (a name), threads?, isa? } (memory staged as
//                          tensor_memory.h describes; an async observation runs on a libuv worker that hands the work
//                          to the pool)
//   summary(complete: boolean) -> the cpu::CalibrationSummary as plain arrays
//   dispose(): releases this handle's share (running observations keep theirs)
class NativeCalibrator : public Napi::ObjectWrap<NativeCalibrator> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit NativeCalibrator(const Napi::CallbackInfo& info);

 private:
  Napi::Value ObserveSync(const Napi::CallbackInfo& info);
  Napi::Value ObserveAsync(const Napi::CallbackInfo& info);
  Napi::Value Summary(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  std::shared_ptr<cpu::Calibrator> get(Napi::Env env) const;

  std::shared_ptr<cpu::Calibrator> calibrator_;
};

// chooseCategories({ numLayers, numHeads, mass: Float64Array [L*H*7], worst: Float64Array [L*H*4], kept: Float64Array
//                    [4], tau, worstTau, textKeys, pinned: Uint8Array [L] }) -> Uint8Array [L*H] of category codes.
Napi::Value ChooseCategories(const Napi::CallbackInfo& info);

}  // namespace bs::addon
