// The neonbf16 level (native/cpu/isa.h): the neon level plus BFDOT for bf16 inputs (simd/simd_neon_bf16.h), compiled
// with +bf16 from isa_levels.json; chosen only where the CPU has FEAT_BF16.
#define BS_ISA_NS neonbf16
#define BS_SIMD_NEON 1
#include "level_body.h"
