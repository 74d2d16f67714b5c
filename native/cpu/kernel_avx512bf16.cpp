// The AVX-512 kernel built with AVX512_BF16 as well: bf16 inputs use vdpbf16ps (see kernel_impl.h).
#define BS_ISA_NS avx512bf16
#include "kernel_impl.h"
