// What the CUDA kernels need of a call's strides beyond core/problem_checks.h: every row start 16-byte aligned, as the
// kernels load rows with 16-byte copies (cp.async / float4) and store column pairs. Plain C++, shared by the backend
// and the emulator.
#pragma once
#include <string>

#include "../../core/error.h"
#include "../../core/problem.h"

namespace bs::cuda {

inline void checkStrideAlignment(const AttentionProblem& p) {
  const auto bytes = [](DType t) { return t == DType::F32 ? 4 : 2; };
  const struct {
    const char* name;
    TensorStrides s;
    DType t;
  } tensors[] = {{"q", p.qStrides, p.inputType}, {"k", p.kStrides, p.inputType}, {"v", p.vStrides, p.inputType},
                 {"out", p.outStrides, p.outputType}};
  for (const auto& x : tensors)
    if ((x.s.token * bytes(x.t)) % 16 != 0 || (x.s.head * bytes(x.t)) % 16 != 0)
      throw Error(ErrorCode::MISALIGNED, std::string("the CUDA backend needs ") + x.name +
                                             " strides that are multiples of 16 bytes (" + std::to_string(16 / bytes(x.t)) +
                                             " elements), got token " + std::to_string(x.s.token) + ", head " +
                                             std::to_string(x.s.head));
}

}  // namespace bs::cuda
