/**
 * Argument checks shared by the entry points that hand tensors to native code (attention, the attention-mass pass):
 * the same input gets the same typed error whichever entry point receives it.
 */
import { DTYPES, type DType } from '../core/dtype.js';
import { BlindsightError, rangeError, typeError, type BlindsightErrorCode, show } from '../core/errors.js';
import { native } from '../core/native.js';

/** The CPU kernel ISA levels (native/cpu/isa.h); cpuInfo().isas says which this machine runs. */
export type CpuIsa = 'generic' | 'avx2' | 'avx512' | 'avx512bf16' | 'neon' | 'neonbf16';

/** A tensor of the given element type: Float32Array for f32, Uint16Array of raw bits for f16 / bf16. */
export type Tensor = Float32Array | Uint16Array;

/** An integer in [1, max]; `code` is the registry's code for this value's range mistake. */
export function positiveInt(v: unknown, name: string, max: number, code: BlindsightErrorCode = 'BAD_ARGUMENT'): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw typeError(`${name} must be an integer, got ${String(v)}`);
  if (v < 1 || v > max) throw rangeError(`${name} must be in [1, ${max}], got ${v}`, code);
  return v;
}

/** numHeads / numKvHeads: integers in [1, 65536] (BAD_HEAD_COUNT, as the addon and the C ABI). */
export function headCount(v: unknown, name: string): number {
  return positiveInt(v, name, 65536, 'BAD_HEAD_COUNT');
}

export function bool(v: unknown, name: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw typeError(`${name} must be a boolean`);
  return v;
}

export function dtypeOption(v: unknown, name: string): DType {
  if (v === undefined) return 'f32';
  if (typeof v !== 'string' || !(DTYPES as readonly string[]).includes(v))
    throw typeError(`${name} must be one of ${DTYPES.map((d) => `'${d}'`).join(', ')}, got ${show(v)}`, 'UNSUPPORTED_DTYPE');
  return v as DType;
}

/** A tensor of exactly `expected` elements, or (expected -1) of at least `atLeast`. */
export function tensor(x: unknown, dtype: DType, name: string, expected: number, formula: string, n: number, atLeast = 0): Tensor {
  const want = dtype === 'f32' ? Float32Array : Uint16Array;
  if (!(x instanceof want)) {
    const got = x === null ? 'null' : ArrayBuffer.isView(x) ? x.constructor.name : typeof x;
    const hint = dtype === 'f32' && x instanceof Uint16Array ? ` (for f16 / bf16 data pass dtype: 'f16' or 'bf16')` : '';
    throw typeError(`${name} must be a ${want.name} for ${dtype}, got ${got}${hint}`);
  }
  if (expected < 0) {
    if (x.length < atLeast)
      throw new BlindsightError('SHAPE_MISMATCH', `${name} has ${x.length} elements; ${formula} reaches ${atLeast}`);
    return x;
  }
  return checkLength(x, name, expected, formula, n);
}

export function f32(x: unknown, name: string, expected: number, formula: string, n: number): Float32Array {
  if (!(x instanceof Float32Array)) {
    const got = x === null ? 'null' : ArrayBuffer.isView(x) ? x.constructor.name : typeof x;
    throw typeError(`${name} must be a Float32Array, got ${got}`);
  }
  return checkLength(x, name, expected, formula, n);
}

function checkLength<T extends Tensor>(x: T, name: string, expected: number, formula: string, n: number): T {
  if (x.length !== expected)
    throw new BlindsightError('SHAPE_MISMATCH', `${name} has ${x.length} elements; expected ${formula} = ${expected} (the plan's layout has ${n} tokens)`);
  return x;
}

export function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.buffer !== b.buffer) return false;
  return a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

/**
 * Grouped-query attention: every KV head serves the same number of query heads. A BlindsightError BAD_GQA otherwise
 * (also for a count below 1, which only a tensor shape can bring); `where` names the input in the message.
 */
export function checkGqa(numHeads: number, numKvHeads: number, where?: string): void {
  if (numHeads >= 1 && numKvHeads >= 1 && numHeads % numKvHeads === 0) return;
  throw new BlindsightError('BAD_GQA', `${where ? `${where}: ` : ''}numHeads (${numHeads}) must be a multiple of numKvHeads (${numKvHeads})`);
}

/**
 * The score scale: default (and 0, as in the C ABI) 1/sqrt(headDim); otherwise any number finite in f32, negative
 * ones included.
 */
export function scaleOption(v: unknown, headDim: number): number {
  if (v === undefined || v === 0) return Math.fround(1 / Math.sqrt(headDim));
  if (typeof v !== 'number') throw typeError(`scale must be a number, got ${typeof v}`);
  if (!Number.isFinite(Math.fround(v))) throw rangeError(`scale must be a finite f32 number, got ${String(v)}`);
  return v;
}

/** Threads for one call; 0 means the pool's size. */
export function threadsOption(v: unknown): number {
  return v === undefined ? 0 : positiveInt(v, 'threads', 1024);
}

/**
 * A forced CPU ISA level, checked against what this CPU runs; null means the default. Every ISA name the package
 * takes (attention, the attention-mass pass, fmaPeak, the benchmark's --isa) goes through here.
 */
export function isaOption(v: unknown): CpuIsa | null {
  if (v === undefined) return null;
  const available = native().cpuInfo().isas;
  if (typeof v !== 'string' || !available.includes(v))
    throw new BlindsightError('UNSUPPORTED_ISA', `isa ${show(v)} is not available here; this CPU runs: ${available.join(', ')}`);
  return v as CpuIsa;
}
