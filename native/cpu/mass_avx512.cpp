#define BS_ISA_NS avx512
#include "mass_impl.h"
