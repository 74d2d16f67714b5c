#define BS_EMULATE_SM80 1
#include "device_builtins.h"
// device_builtins.h first: the kernel headers below use its threadIdx, barriers and shuffles.
#include "emulated_attention.h"

#include <cstring>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "../../core/error.h"
#include "../../core/problem_checks.h"
#include "../device/mainloop_simt.cuh"
#include "../device/mainloop_sm80.cuh"
#include "../host/plan_image.h"
#include "../host/stride_checks.h"
#include "../device/tile_scheduler.cuh"

namespace bs::cuda {
namespace {

template <class Mainloop>
void runGrid(const Plan& plan, const AttentionProblem& p, KernelParams params) {
  auto& copies = emu::asyncCopies();
  const PlanImage image(plan, p.ranges, p.heads, p.numHeads, Mainloop::kRows);
  image.bind(image.bytes().data(), params);
  emu::CtaEmulator cta(Mainloop::kThreads);
  using Shared = typename Mainloop::SharedStorage;
  std::vector<unsigned char> bytes(sizeof(Shared) + 16);
  auto* shared = reinterpret_cast<Shared*>((reinterpret_cast<uintptr_t>(bytes.data()) + 15) & ~uintptr_t{15});
  for (int32_t item = 0; item < image.numItems(); ++item) {
    std::memset(static_cast<void*>(shared), 0xff, sizeof(Shared));  // shared memory never written reads as NaN
    copies.reset(Mainloop::kThreads);
    cta.run([&] {
      const WorkTile w = workTileFor(params, item);
      Mainloop mainloop;
      mainloop.run(params, w, *shared);
      mainloop.store(params, w);
    });
  }
}

template <typename T, int D>
using MainloopFor = std::conditional_t<std::is_same_v<T, float>, SimtMainloop<D>, Sm80Mainloop<T, D>>;

template <typename T>
void dispatchDim(const Plan& plan, const AttentionProblem& p, const KernelParams& params) {
  switch (p.headDim) {
    case 64: return runGrid<MainloopFor<T, 64>>(plan, p, params);
    case 80: return runGrid<MainloopFor<T, 80>>(plan, p, params);
    case 96: return runGrid<MainloopFor<T, 96>>(plan, p, params);
    case 128: return runGrid<MainloopFor<T, 128>>(plan, p, params);
    case 256: return runGrid<MainloopFor<T, 256>>(plan, p, params);
    default:
      throw Error(ErrorCode::UNSUPPORTED_HEAD_DIM, "the CUDA kernels support head dims 64, 80, 96, 128 and 256, not " +
                                              std::to_string(p.headDim));
  }
}

}  // namespace

void emulateAttention(const Plan& plan, const AttentionProblem& p, bool copiesAtWait) {
  emu::asyncCopies().timing = copiesAtWait ? emu::AsyncCopies::Timing::AtWait : emu::AsyncCopies::Timing::AtIssue;
  checkHeadCounts(p.numHeads, p.numKvHeads);
  AttentionProblem resolved = p;
  std::optional<CallRanges> whole;
  if (!resolved.ranges) resolved.ranges = &whole.emplace(plan.layout());
  resolveProblemStrides(resolved, resolved.ranges->queryRows(), resolved.ranges->keyRows());
  checkStrideAlignment(resolved);
  KernelParams params = tensorParams(plan.options().mask, resolved);
  switch (p.inputType) {
    case DType::BF16: return dispatchDim<__nv_bfloat16>(plan, resolved, params);
    case DType::F16: return dispatchDim<__half>(plan, resolved, params);
    default: return dispatchDim<float>(plan, resolved, params);
  }
}

}  // namespace bs::cuda
