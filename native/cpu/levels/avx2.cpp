// The avx2 level (native/cpu/isa.h): every kernel family, compiled with its flags from isa_levels.json.
#define BS_ISA_NS avx2
#include "level_body.h"
