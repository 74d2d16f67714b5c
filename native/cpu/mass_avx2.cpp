#define BS_ISA_NS avx2
#include "mass_impl.h"
