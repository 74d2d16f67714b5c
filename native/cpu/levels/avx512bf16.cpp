// The avx512bf16 level: every kernel family compiled with this level's flags (isa_levels.json) in its own namespace.
#define BS_ISA_NS avx512bf16
// GCC 12 reports its own AVX-512 intrinsic headers (the _mm512_undefined_* idiom) as maybe-uninitialized once they are
// inlined here; the warning is about those headers, not this code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "../fma_loop.h"
#include "../kernel/attend.h"
#include "../level_kernels.h"
#include "../mass/mass_impl.h"

namespace bs::cpu::avx512bf16 {
const LevelKernels kKernels{attendBlock, massBlock, fmaLoop};
}  // namespace bs::cpu::avx512bf16
