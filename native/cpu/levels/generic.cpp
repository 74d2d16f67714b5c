// The generic level (native/cpu/isa.h): every kernel family, compiled with its flags from isa_levels.json.
#define BS_ISA_NS generic
#include "level_body.h"
