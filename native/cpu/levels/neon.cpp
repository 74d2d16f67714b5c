// The neon level (native/cpu/isa.h): every kernel family in the NEON vocabulary (simd/simd_neon.h), compiled with its
// flags from isa_levels.json. Every AArch64 CPU runs it.
#define BS_ISA_NS neon
#define BS_SIMD_NEON 1
#include "level_body.h"
