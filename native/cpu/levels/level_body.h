// The body of every levels/<name>.cpp: all kernel families compiled with that level's flags (isa_levels.json) in the
// level's namespace (BS_ISA_NS, defined by the including file), and the level's table of them.
#ifndef BS_ISA_NS
#error "define BS_ISA_NS (the level's name) before including level_body.h"
#endif
// GCC 12 reports its own AVX-512 intrinsic headers (the _mm512_undefined_* idiom) as maybe-uninitialized once they are
// inlined here; the warning is about those headers, not this code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "../fma_loop.h"
#include "../kernel/attend.h"
#include "../level_kernels.h"
#include "../mass/mass_impl.h"

namespace bs::cpu::BS_ISA_NS {
const LevelKernels kKernels{attendBlock, massBlock, fmaLoop};
}  // namespace bs::cpu::BS_ISA_NS
