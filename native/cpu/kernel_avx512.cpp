#define BS_ISA_NS avx512
#include "kernel_impl.h"
