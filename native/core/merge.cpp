#include "merge.h"

#include <string>

#include "problem_checks.h"

namespace bs {

void checkMergeProblem(const MergeProblem& p) {
  if (p.partials.empty()) throw Error(ErrorCode::BAD_ARGUMENT, "merging needs at least one partial result");
  if (p.rows < 0) throw Error(ErrorCode::BAD_ARGUMENT, "rows must be >= 0");
  if (p.numHeads < 1 || p.numHeads > 65536)
    throw Error(ErrorCode::BAD_HEAD_COUNT, "numHeads must be in [1, 65536], got " + std::to_string(p.numHeads));
  if (p.headDim < 1 || p.headDim > 65536)
    throw Error(ErrorCode::BAD_HEAD_DIM, "headDim must be in [1, 65536], got " + std::to_string(p.headDim));
  if (p.rows > 0 && !p.out) throw Error(ErrorCode::BAD_ARGUMENT, "out must not be null");
  const size_t outBytes = static_cast<size_t>(p.rows) * p.numHeads * p.headDim * dtypeBytes(p.outputType);
  const size_t inBytes = static_cast<size_t>(p.rows) * p.numHeads * p.headDim * dtypeBytes(p.inputType);
  const size_t lseBytes = static_cast<size_t>(p.rows) * p.numHeads * sizeof(float);
  const auto overlaps = [](const void* a, size_t an, const void* b, size_t bn) {
    const auto pa = reinterpret_cast<uintptr_t>(a), pb = reinterpret_cast<uintptr_t>(b);
    return a && b && an > 0 && bn > 0 && pa < pb + bn && pb < pa + an;
  };
  for (size_t i = 0; i < p.partials.size(); ++i) {
    const PartialResult& r = p.partials[i];
    if (p.rows > 0 && (!r.out || !r.lse))
      throw Error(ErrorCode::BAD_ARGUMENT, "partial " + std::to_string(i) + " has a null out or lse");
    // Each (row, head) reads every partial before it writes, so reusing a partial's own arrays is safe; any other
    // overlap is not.
    const bool sameOut = r.out == p.out && p.inputType == p.outputType;
    if (!sameOut && overlaps(p.out, outBytes, r.out, inBytes))
      throw Error(ErrorCode::ALIASED_OUTPUT, "out overlaps partial " + std::to_string(i) + "'s out without being it");
    if (overlaps(p.out, outBytes, r.lse, lseBytes))
      throw Error(ErrorCode::ALIASED_OUTPUT, "out overlaps partial " + std::to_string(i) + "'s lse");
    if (p.lse && r.lse != p.lse && overlaps(p.lse, lseBytes, r.lse, lseBytes))
      throw Error(ErrorCode::ALIASED_OUTPUT, "lse overlaps partial " + std::to_string(i) + "'s lse without being it");
    if (p.lse && overlaps(p.lse, lseBytes, r.out, inBytes))
      throw Error(ErrorCode::ALIASED_OUTPUT, "lse overlaps partial " + std::to_string(i) + "'s out");
  }
  if (p.lse && overlaps(p.lse, lseBytes, p.out, outBytes)) throw Error(ErrorCode::ALIASED_OUTPUT, "lse overlaps out");
}

}  // namespace bs
