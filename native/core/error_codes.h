// The error-code registry: every code a failure can carry, written once. X(CODE, STATUS, "meaning"):
//  - CODE is what bs::Error, the addon's JS errors and the npm package's BlindsightError carry (and what the C ABI's
//    blindsight_last_error() text starts with, in brackets);
//  - STATUS is the blindsight_status the C ABI returns for it (BLINDSIGHT_ERR_<STATUS>);
//  - the meaning is the one line the README's error table shows.
// scripts/error-codes.mjs generates lib/core/error_codes.ts (the exhaustive BlindsightErrorCode union) and the README
// table from this list; test/e2e/error_codes.test.ts fails when either is out of date.
#pragma once

// clang-format off
#define BS_ERROR_CODES(X)                                                                                              \
  /* layouts */                                                                                                        \
  X(EMPTY_LAYOUT, BAD_LAYOUT, "a layout with no tokens")                                                               \
  X(TOO_MANY_TOKENS, BAD_LAYOUT, "more than 2^30 tokens in one layout")                                \
  X(LAYOUT_MISMATCH, BAD_LAYOUT, "per-token arrays of different lengths, or a plan or sample of another layout")      \
  X(BAD_CU_SEQLENS, BAD_LAYOUT, "sequence boundaries that do not start at 0, increase strictly and end at the token count") \
  X(BAD_IMAGE_ID, BAD_LAYOUT, "an image id below -1, or one id labelling two separate spans")                         \
  X(BAD_SINKS, BAD_LAYOUT, "sink flags that are not 0 or 1, or an image span whose first token is not a sink")        \
  X(BAD_SEGMENTS, BAD_LAYOUT, "segment metadata that is not a non-empty list of {kind, length} per sequence")          \
  X(BAD_TOKEN_IDS, BAD_LAYOUT, "token ids that are not non-negative integers, or image delimiters out of order")      \
  X(UNTERMINATED_IMAGE, BAD_LAYOUT, "an image start delimiter that is never closed")                                   \
  X(UNKNOWN_TEMPLATE, INVALID_ARGUMENT, "a model template that is not built in, or a custom one without distinct ids")\
  /* plans and categories */                                                                                           \
  X(BAD_BLOCK_SIZE, INVALID_ARGUMENT, "blockM or blockN not a multiple of 8 in [8, 256]")                              \
  X(BAD_WINDOW, INVALID_ARGUMENT, "a sliding window that is not null / 0 or a positive integer")                      \
  X(UNKNOWN_CATEGORY, INVALID_ARGUMENT, "a head category that is not dense, sink, intra-image or intra-image+sink")    \
  X(BAD_POLICY, INVALID_ARGUMENT, "a head policy of the wrong shape or format, or without calibration statistics")    \
  /* tensor shapes */                                                                                                  \
  X(BAD_HEAD_COUNT, SHAPE, "numHeads or numKvHeads not an integer in [1, 65536]")                                      \
  X(BAD_GQA, SHAPE, "numHeads not a multiple of numKvHeads")                                                           \
  X(BAD_HEAD_DIM, SHAPE, "a head dim the kernel does not take (attention: a multiple of 8 in [8, 512])")               \
  X(SHAPE_MISMATCH, SHAPE, "a tensor whose length does not match the layout's tokens and the head shape")              \
  X(SIZE_OVERFLOW, SHAPE, "a tensor larger than a typed array or the native index types can hold")                     \
  X(ALIASED_OUTPUT, INVALID_ARGUMENT, "an output buffer that overlaps an input or another output")                    \
  X(MISALIGNED, INVALID_ARGUMENT, "a device pointer not aligned to its element type")                                  \
  X(DETACHED_BUFFER, INVALID_ARGUMENT, "an output array detached or resized while an asynchronous call ran")          \
  X(BAD_RANGE, INVALID_ARGUMENT, "a query or key range that is reversed, leaves its sequence, or is not one per sequence") \
  X(BAD_STRIDE, SHAPE, "a tensor stride that is negative, or so small that two elements of the tensor share memory")  \
  X(KV_PACK_STALE, INVALID_ARGUMENT, "a KvPack given k / v rows that differ from the ones it kept (another layer or prompt)") \
  /* arguments and options */                                                                                          \
  X(BAD_ARGUMENT, INVALID_ARGUMENT, "an argument of the wrong type, or out of its range")                              \
  X(BAD_OPTION, INVALID_ARGUMENT, "options that contradict each other or do not apply to the call")                    \
  X(BAD_BACKEND, INVALID_ARGUMENT, "a backend name other than auto, cpu or cuda")                                      \
  X(DISPOSED, INVALID_ARGUMENT, "a MaskPlan (or the PromptAttention that built it) or a Calibrator used after dispose()")                         \
  /* what this build or machine computes */                                                                            \
  X(UNSUPPORTED_DTYPE, UNSUPPORTED, "an element type other than f32, f16 or bf16")                                     \
  X(UNSUPPORTED_ISA, UNSUPPORTED, "a CPU kernel level that is unknown, not built for this architecture, or beyond this CPU") \
  X(UNSUPPORTED_HEAD_DIM, UNSUPPORTED, "a head dim the CUDA backend has no kernel for")                                \
  X(UNSUPPORTED_PLATFORM, UNSUPPORTED, "a host this code does not run on (safetensors data needs a little-endian host)") \
  X(NATIVE_LOAD_FAILED, UNAVAILABLE, "the native addon could not be loaded (the message says why and what to do)")     \
  X(CUDA_UNAVAILABLE, UNAVAILABLE, "no usable CUDA build or device (the message says why)")                            \
  /* calibration samples and files */                                                                                  \
  X(BAD_SAMPLE, INVALID_ARGUMENT, "a calibration sample whose tensors or metadata do not describe one prompt")        \
  X(MISSING_LAYER, INVALID_ARGUMENT, "a calibration sample without the q and k of every layer")                       \
  X(MISSING_TENSOR, INVALID_ARGUMENT, "a safetensors file without a tensor that was asked for")                       \
  X(MISSING_LAYOUT, INVALID_ARGUMENT, "a calibration sample with neither segments nor input_ids")                     \
  X(BAD_SAFETENSORS, INVALID_ARGUMENT, "a file that is not valid safetensors")                                         \
  X(UNKNOWN_MODEL, INVALID_ARGUMENT, "a model name that is not built in")                                              \
  X(NO_IMAGE_QUERIES, INVALID_ARGUMENT, "calibration samples without any image token")                                \
  X(NOT_OBSERVED, INVALID_ARGUMENT, "a calibrator asked for a policy before it observed every layer of the model")   \
  /* failures while computing */                                                                                       \
  X(OUT_OF_MEMORY, OUT_OF_MEMORY, "an allocation failed")                                                              \
  X(CUDA_OUT_OF_MEMORY, OUT_OF_MEMORY, "a device allocation failed")                                                   \
  X(CUDA_ERROR, BACKEND, "a CUDA call failed (the message names it)")                                                  \
  X(INTERNAL, INTERNAL, "a bug: please report it with the message")                                                    \
  X(EMULATION_DEADLOCK, INTERNAL, "the CUDA emulator's CTA threads stopped at different barriers (a kernel bug)")
// clang-format on

namespace bs {

enum class ErrorCode {
#define BS_ERROR_CODE_ENUM(code, status, meaning) code,
  BS_ERROR_CODES(BS_ERROR_CODE_ENUM)
#undef BS_ERROR_CODE_ENUM
};

inline const char* errorCodeName(ErrorCode c) {
  switch (c) {
#define BS_ERROR_CODE_NAME(code, status, meaning) \
  case ErrorCode::code: return #code;
    BS_ERROR_CODES(BS_ERROR_CODE_NAME)
#undef BS_ERROR_CODE_NAME
  }
  return "INTERNAL";
}

}  // namespace bs
