// Test-only: the CUDA backend's mainloops, epilogue, scheduler and plan walk executed on the CPU, one emulated CTA at
// a time (cta_emulator.h), with the sm_80 instructions defined from the PTX ISA (sm80_emulated.h). Lets the
// reference tests exercise the kernels' fragment layouts, masking, softmax and stores on machines without a GPU.
// Host pointers, like attentionHost. Slow (thousands of fiber switches per tile): small problems only.
#pragma once
#include "../../core/plan.h"
#include "../../core/problem.h"

namespace bs::cuda {

// copiesAtWait: cp.async copies land at the covering wait_group instead of at issue (see sm80_emulated.h).
void emulateAttention(const Plan& plan, const AttentionProblem& p, bool copiesAtWait);

}  // namespace bs::cuda
