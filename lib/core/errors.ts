/**
 * The package's error type. Every failure a caller can cause (bad shapes, bad layouts, unknown categories, a missing
 * backend) is a BlindsightError with a stable `code`, or a TypeError/RangeError for plain argument-type and range
 * mistakes, raised before any native work starts.
 */
export type BlindsightErrorCode =
  | 'BAD_SEGMENTS'
  | 'BAD_TOKEN_IDS'
  | 'UNTERMINATED_IMAGE'
  | 'UNKNOWN_TEMPLATE'
  | 'UNKNOWN_CATEGORY'
  | 'BAD_POLICY'
  | 'BAD_GQA'
  | 'SHAPE_MISMATCH'
  | 'SIZE_OVERFLOW'
  | 'ALIASED_OUTPUT'
  | 'BAD_OPTION'
  | 'UNSUPPORTED_ISA'
  | 'NATIVE_LOAD_FAILED'
  | 'NATIVE_ERROR'
  | 'BAD_BACKEND'
  | 'CUDA_UNAVAILABLE'
  | 'CUDA_ERROR'
  | 'CUDA_OUT_OF_MEMORY'
  | 'UNSUPPORTED_HEAD_DIM'
  | (string & {});

export class BlindsightError extends Error {
  readonly code: BlindsightErrorCode;
  constructor(code: BlindsightErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BlindsightError';
    this.code = code;
  }
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
    return new BlindsightError(typeof code === 'string' ? code : 'NATIVE_ERROR', e.message, { cause: e });
  }
  return e;
}
