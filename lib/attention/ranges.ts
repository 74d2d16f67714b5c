/**
 * The query and key ranges of a call and the strides of its tensors, checked and put in the form the native entry
 * points take (native/core/call_ranges.h, problem_checks.h): per sequence a [begin, end) of query tokens and one of
 * key tokens, in layout coordinates, and { token, head } element strides with the packed token-major default.
 */
import { BlindsightError, rangeError, show, typeError } from '../core/errors.js';
import type { Layout } from '../core/layout.js';

/** A half-open range of token positions in the layout, [begin, end). */
export type TokenRange = readonly [begin: number, end: number];

/**
 * Which tokens of the layout a call covers: one range over the packed layout (each sequence takes the part of it
 * inside the sequence), or one range per sequence (each inside its sequence; [t, t] for none).
 */
export type TokenRanges = TokenRange | readonly TokenRange[];

/** Where a tensor's elements are: element (row, head, c) at row * token + head * head + c (in elements). */
export interface TensorStrides {
  token: number;
  head: number;
}

/** Strides of the tensors of a call laid out otherwise than packed token-major (e.g. a head-major KV cache). */
export interface CallStrides {
  q?: TensorStrides;
  k?: TensorStrides;
  v?: TensorStrides;
  /** For a caller's `out` only. */
  out?: TensorStrides;
}

/** A call's ranges in native form: begin, end per sequence, and the rows they hold. */
export interface ResolvedRanges {
  /** undefined: every token (the whole layout). */
  native: Int32Array | undefined;
  rows: number;
}

/** The query or key ranges of a call (undefined: every token of the layout). */
export function resolveRanges(v: unknown, layout: Layout, name: string): ResolvedRanges {
  const n = layout.numTokens;
  if (v === undefined) return { native: undefined, rows: n };
  if (!Array.isArray(v)) throw typeError(`${name} must be a [begin, end] pair or one such pair per sequence, got ${show(v)}`);
  const cu = layout.cuSeqlens;
  const seqs = layout.numSequences;
  const out = new Int32Array(2 * seqs);
  const isPair = v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'number';
  if (isPair) {
    const [b, e] = pair(v, name, 0, n);
    for (let s = 0; s < seqs; s++) {
      const lo = Math.min(Math.max(b, cu[s]), cu[s + 1]);
      out[2 * s] = lo;
      out[2 * s + 1] = Math.max(lo, Math.min(e, cu[s + 1]));
    }
  } else {
    if (v.length !== seqs)
      throw new BlindsightError('BAD_RANGE', `${name} has ${v.length} ranges; the layout has ${seqs} sequences (or pass one [begin, end] pair)`);
    for (let s = 0; s < seqs; s++) {
      const r = v[s] as unknown;
      if (!Array.isArray(r)) throw typeError(`${name}[${s}] must be a [begin, end] pair, got ${show(r)}`);
      [out[2 * s], out[2 * s + 1]] = pair(r, `${name}[${s}]`, cu[s], cu[s + 1], ` (sequence ${s})`);
    }
  }
  let rows = 0;
  for (let s = 0; s < seqs; s++) rows += out[2 * s + 1] - out[2 * s];
  return { native: out, rows };
}

function pair(r: readonly unknown[], name: string, lo: number, hi: number, where = ''): [number, number] {
  if (r.length !== 2) throw typeError(`${name} must be a [begin, end] pair, got ${show(r)}`);
  const [b, e] = r;
  if (typeof b !== 'number' || typeof e !== 'number' || !Number.isInteger(b) || !Number.isInteger(e))
    throw typeError(`${name} must hold two integers, got ${show(r)}`);
  if (b < lo || e > hi || b > e)
    throw rangeError(`${name} is [${b}, ${e}); it must lie inside [${lo}, ${hi})${where} with begin <= end`, 'BAD_RANGE');
  return [b, e];
}

const MAX_STRIDE = 2 ** 48;

/**
 * One tensor's strides with the default filled in (packed token-major), checked as the native code checks them:
 * both >= 0, below 2^48, and no two elements sharing memory (BAD_STRIDE).
 */
export function resolveStrides(v: unknown, rows: number, heads: number, headDim: number, name: string): TensorStrides {
  if (v === undefined) return { token: heads * headDim, head: headDim };
  if (typeof v !== 'object' || v === null) throw typeError(`strides.${name} must be a { token, head } object, got ${show(v)}`);
  const { token, head } = v as Record<string, unknown>;
  for (const [field, x] of [['token', token], ['head', head]] as const)
    if (typeof x !== 'number' || !Number.isInteger(x)) throw typeError(`strides.${name}.${field} must be an integer, got ${show(x)}`);
  const s = { token: token as number, head: head as number };
  const fail = (why: string): never => {
    throw rangeError(`strides.${name} (token ${s.token}, head ${s.head}) ${why}`, 'BAD_STRIDE');
  };
  if (s.token < 0 || s.head < 0) fail('must be >= 0');
  if (s.token >= MAX_STRIDE || s.head >= MAX_STRIDE) fail('must be below 2^48 elements');
  let a = { stride: rows > 1 ? s.token : 0, count: rows };
  let b = { stride: heads > 1 ? s.head : 0, count: heads };
  if (a.count > 1 && b.count > 1 && b.stride < a.stride) [a, b] = [b, a];
  const inner = a.count > 1 ? a : b.count > 1 ? b : undefined;
  if (!inner) return s;
  if (inner.stride < headDim) fail(`let rows of headDim ${headDim} elements overlap`);
  if (a.count > 1 && b.count > 1 && b.stride < (a.count - 1) * a.stride + headDim)
    fail("let the token and head dimensions overlap (the outer stride must cover the inner dimension's extent)");
  if (tensorExtent(rows, heads, headDim, s) >= 2 ** 53)
    throw new BlindsightError('SIZE_OVERFLOW', `strides.${name} span 2^53 elements or more`);
  return s;
}

/** Elements a rows x heads x headDim tensor spans at its strides (0 when empty). */
export function tensorExtent(rows: number, heads: number, headDim: number, s: TensorStrides): number {
  return rows === 0 || heads === 0 ? 0 : (rows - 1) * s.token + (heads - 1) * s.head + headDim;
}

/** The byte span [start, end) a strided tensor covers in its buffer. */
export function byteSpan(x: ArrayBufferView, elements: number): [number, number] {
  const bytes = x instanceof Float32Array ? 4 : 2;
  return [x.byteOffset, x.byteOffset + elements * bytes];
}
