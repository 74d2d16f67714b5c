/**
 * The package's errors. Every failure a caller can cause (bad shapes, bad layouts, unknown categories, a missing
 * backend) is a BlindsightError with a stable `code`, or a TypeError / RangeError for plain argument-type and range
 * mistakes, raised before any native work starts. All of them carry a `code` from the registry
 * (native/core/error_codes.h, mirrored in error_codes.ts), and the same mistake has the same code through this API,
 * the addon and the C ABI.
 */
import { ERROR_CODES, type BlindsightErrorCode } from './error_codes.js';

export { ERROR_CODES, type BlindsightErrorCode };

export class BlindsightError extends Error {
  readonly code: BlindsightErrorCode;
  constructor(code: BlindsightErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BlindsightError';
    this.code = code;
  }
}

/** A TypeError or RangeError thrown by the package: the plain JS class, plus the registry's `code`. */
export type CodedTypeError = TypeError & { readonly code: BlindsightErrorCode };
export type CodedRangeError = RangeError & { readonly code: BlindsightErrorCode };

/** A TypeError for an argument of the wrong type (code BAD_ARGUMENT unless a more specific one applies). */
export function typeError(message: string, code: BlindsightErrorCode = 'BAD_ARGUMENT'): CodedTypeError {
  return Object.assign(new TypeError(message), { code });
}

/** A RangeError for a value out of its range, with the code the C ABI gives the same mistake. */
export function rangeError(message: string, code: BlindsightErrorCode = 'BAD_ARGUMENT'): CodedRangeError {
  return Object.assign(new RangeError(message), { code });
}

/** A value as an error message quotes it: JSON where it has one, else its String() (BigInt and Symbol have no JSON). */
export function show(v: unknown): string {
  try {
    const json = JSON.stringify(v);
    return json === undefined ? String(v) : json;
  } catch {
    try {
      return String(v);
    } catch {
      return Object.prototype.toString.call(v);
    }
  }
}

export function isErrorCode(x: unknown): x is BlindsightErrorCode {
  return typeof x === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, x);
}

/** Runs a native call and re-raises its coded errors as BlindsightError. */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw fromNative(e);
  }
}

export function fromNative(e: unknown): unknown {
  if (e instanceof BlindsightError || e instanceof TypeError || e instanceof RangeError) return e;
  if (e instanceof Error) {
    const code = (e as Error & { code?: unknown }).code;
    return new BlindsightError(isErrorCode(code) ? code : 'INTERNAL', e.message, { cause: e });
  }
  return e;
}
