/**
 * Element types of attention inputs and outputs. f32 tensors are Float32Arrays; f16 and bf16 tensors are
 * Uint16Arrays of the raw 16-bit patterns (IEEE binary16, and bfloat16 = the top half of an f32), as model weights and
 * activations usually arrive from other runtimes. Conversions round to nearest, ties to even, like the hardware.
 */
export type DType = 'f32' | 'f16' | 'bf16';

export const DTYPES: readonly DType[] = Object.freeze(['f32', 'f16', 'bf16'] as const);

/** The ABI code of each type (native/core/problem.h, DType). */
export const DTYPE_CODES: Readonly<Record<DType, number>> = Object.freeze({ f32: 0, f16: 1, bf16: 2 });

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f32ToBf16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) | 0x40) & 0xffff; // NaN stays NaN
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16BitsToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0];
}

export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const abs = b & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00;
  if (abs >= 0x477ff000) return sign | 0x7c00; // rounds to >= 65520: infinity
  if (abs < 0x38800000) {
    // subnormal half: round(|x| * 2^24) to nearest even (exact in float64)
    u32[0] = abs;
    const a = f32[0] * 16777216;
    let r = Math.round(a);
    if (r - a === 0.5 && r % 2 === 1) r -= 1; // Math.round rounds ties up; make them even
    return sign | r;
  }
  const rounded = (abs + 0xfff + ((abs >>> 13) & 1)) >>> 0;
  return sign | (((rounded - (112 << 23)) >>> 13) & 0x7fff);
}

export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  if (exp === 0) return sign * mant * 2 ** -24;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Rounds every element to `dtype` and returns the raw 16-bit patterns (f32 is returned as is). */
export function toDType(x: ArrayLike<number>, dtype: 'f16' | 'bf16'): Uint16Array {
  const out = new Uint16Array(x.length);
  const conv = dtype === 'bf16' ? f32ToBf16Bits : f32ToF16Bits;
  for (let i = 0; i < x.length; i++) out[i] = conv(x[i]);
  return out;
}

/** Widens raw f16 / bf16 patterns to a Float32Array (exact). */
export function fromDType(x: Uint16Array, dtype: 'f16' | 'bf16'): Float32Array {
  const out = new Float32Array(x.length);
  const conv = dtype === 'bf16' ? bf16BitsToF32 : f16BitsToF32;
  for (let i = 0; i < x.length; i++) out[i] = conv(x[i]);
  return out;
}
