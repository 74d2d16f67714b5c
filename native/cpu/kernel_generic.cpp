#define BS_ISA_NS generic
#include "kernel_impl.h"
