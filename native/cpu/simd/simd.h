// The vector vocabulary the CPU kernels are written in, for the ISA level of the translation unit that includes it
// (each levels/<level>.cpp is compiled with its own -m flags, so __AVX512F__ / __AVX2__ tell which one this is; on
// AArch64, where every level has NEON, the NEON levels' files define BS_SIMD_NEON and the bf16 one adds +bf16).
// Every level offers the same names, so the kernels are written once:
//   V, W (lanes): zero, load, store, stream, streamFence, set1, fma(a, b, c) = a*b + c, mul, add, sub, max, min,
//   exp2, keepLanes, hsum, and row conversions between f32 and f16 / bf16;
//   V8 (8 lanes, a ymm register on x86): the 8 x 8 transposes the query prologue uses;
//   on AVX-512, H (a half vector) for the last 8 rows of a pass; on AVX512_BF16 and FEAT_BF16, the bf16 pair
//   products.
// Intrinsics appear only in the files of this folder.
#pragma once
#include <cstdint>
#include <cstring>

#include "../dtype_convert.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif
#if defined(BS_SIMD_NEON) && !defined(__aarch64__) && !defined(_M_ARM64)
#error "BS_SIMD_NEON levels exist on AArch64 only"
#endif

#ifndef BS_ISA_NS
#error "simd.h belongs inside an ISA translation unit (define BS_ISA_NS)"
#endif

// Inside the ISA's own namespace: the same inline names compiled with different -m flags must never be merged by the
// linker (an AVX-512 body chosen for the portable kernel would fault on an older CPU).
namespace bs::cpu::BS_ISA_NS::simd {

// 2^f on [-0.5, 0.5]: Taylor series of e^(f ln 2) to degree 6; truncation error <= 1.2e-7 relative (about 1 ulp).
constexpr float kP1 = 6.931471805599453e-01f, kP2 = 2.402265069591007e-01f, kP3 = 5.550410866482158e-02f,
                kP4 = 9.618129107628477e-03f, kP5 = 1.3333558146428443e-03f, kP6 = 1.5403530393381609e-04f;
// exp2 takes its argument clamped to [kExpFloor, 0] (softmax arguments are score - max <= 0); arguments at or below
// kExpFloor give exactly 0 (and -inf, a masked score, too): 2^-127 is below the smallest normal float, so clamping
// there avoids both denormals and the inf - inf of a fully masked row. A NaN argument gives NaN.
//
// NaN conventions every level keeps (the kernels rely on them to propagate NaN exactly as the float64 reference
// does): max(a, b) and min(a, b) return b when either is NaN (as x86 maxps / minps do), so max(x, s) over scores
// ignores a NaN score while max(floor, x) and min(0, x) keep a NaN x.
constexpr float kExpFloor = -127.0f;

}  // namespace bs::cpu::BS_ISA_NS::simd

#if defined(__AVX512F__)
#include "simd_avx512.h"
#elif defined(__AVX2__)
#include "simd_avx2.h"
#elif defined(BS_SIMD_NEON)
#include "simd_neon.h"
#else
#include "simd_generic.h"
#endif
#if defined(__AVX512BF16__)
#include "simd_bf16.h"
#endif
#if defined(BS_SIMD_NEON) && defined(__ARM_FEATURE_BF16_VECTOR_ARITHMETIC)
#include "simd_neon_bf16.h"
#endif
// BS_SIMD_HALF (the half vector H) and BS_SIMD_DOT_BF16 (the bf16 pair products) tell what the level offers.
#ifndef BS_SIMD_HALF
#define BS_SIMD_HALF 0
#endif
#ifndef BS_SIMD_DOT_BF16
#define BS_SIMD_DOT_BF16 0
#endif
#include "simd_common.h"
