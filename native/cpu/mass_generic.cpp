#define BS_ISA_NS generic
#include "mass_impl.h"
