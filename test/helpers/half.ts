/** f16 / bf16 encoders and decoders for tests (round to nearest even), independent of the native conversions. */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function toBf16(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  if ((bits & 0x7fffffff) > 0x7f800000) return (bits >>> 16) | 0x40; // keep NaN a NaN
  const rounded = bits + 0x7fff + ((bits >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

export function fromBf16(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}

export function fromF16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? Number.NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

export function toF16(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00; // rounds to infinity
  if (a < 2 ** -24 / 2) return sign;
  // Choose the exponent, then round the mantissa to nearest even.
  let e = Math.max(Math.floor(Math.log2(a)), -14);
  if (2 ** e > a) e--; // log2 rounding guard
  if (e < -14) e = -14;
  const quantum = 2 ** (e - 10);
  let n = a / quantum;
  const fl = Math.floor(n);
  const diff = n - fl;
  n = diff > 0.5 || (diff === 0.5 && fl % 2 === 1) ? fl + 1 : fl;
  if (e === -14 && n < 1024) return sign | n; // subnormal
  if (n >= 2048) {
    n /= 2;
    e++;
  }
  if (e > 15) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | (n - 1024);
}

export function encode(values: Float32Array, dtype: 'f16' | 'bf16'): Uint16Array {
  const out = new Uint16Array(values.length);
  const enc = dtype === 'f16' ? toF16 : toBf16;
  for (let i = 0; i < values.length; i++) out[i] = enc(values[i]!);
  return out;
}

export function decode(bits: Uint16Array, dtype: 'f16' | 'bf16'): Float64Array {
  const out = new Float64Array(bits.length);
  const dec = dtype === 'f16' ? fromF16 : fromBf16;
  for (let i = 0; i < bits.length; i++) out[i] = dec(bits[i]!);
  return out;
}
