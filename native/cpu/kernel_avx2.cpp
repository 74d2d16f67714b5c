#define BS_ISA_NS avx2
#include "kernel_impl.h"
