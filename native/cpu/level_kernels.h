// The kernel families every ISA level provides, as one table per level. levels/<name>.cpp compiles all of them with
// the level's flags and defines its table; LevelKernels has no default constructor, so a level cannot leave a family
// out, and isa.cpp refers to the table of every level the build's architecture has, so a missing level TU fails to
// link. There are no silent fallbacks: asking for a level calls that level's code for every family.
#pragma once
#include <cstdint>

#include "isa.h"
#include "kernel.h"
#include "mass/mass.h"

namespace bs::cpu {

struct LevelKernels {
  AttendBlockFn attendBlock;  // kernel/attend.h
  MassBlockFn massBlock;      // mass/mass_impl.h
  FmaLoopFn fmaLoop;          // fma_loop.h
  constexpr LevelKernels(AttendBlockFn attend, MassBlockFn mass, FmaLoopFn fma)
      : attendBlock(attend), massBlock(mass), fmaLoop(fma) {}
};

#define BS_DECLARE_LEVEL_KERNELS(Enum, name) \
  namespace name {                           \
  extern const LevelKernels kKernels;        \
  }
BS_ISA_LEVELS_COMPILED(BS_DECLARE_LEVEL_KERNELS)
#undef BS_DECLARE_LEVEL_KERNELS

// The kernels of a level this binary has (parseIsa / supportedIsas only hand out such levels).
const LevelKernels& kernelsFor(Isa isa);

}  // namespace bs::cpu
