// The avx512 level (native/cpu/isa.h): every kernel family, compiled with its flags from isa_levels.json.
#define BS_ISA_NS avx512
#include "level_body.h"
