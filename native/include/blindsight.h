/*
 * blindsight C ABI: BlindSight block-sparse prefill attention for runtimes written in C, C++, Python (ctypes/cffi),
 * Rust, ... that call it from their own attention step, on tensors they already hold.
 *
 * Plain C99. Every function is safe to call from any thread; handles are immutable once built, so one plan may serve
 * concurrent attention calls. No C++ exception crosses this boundary: failures return a blindsight_status and leave a
 * message for blindsight_last_error() on the calling thread.
 *
 * Semantics (which keys a query sees, per head category and option) are those of the npm package's README, "Mask
 * semantics"; the arrays and tensor layouts are the TypeScript layer's. Typical use, once per prompt:
 *
 *   blindsight_layout* layout;  blindsight_plan* plan;
 *   blindsight_layout_create(cu_seqlens, num_sequences, image_ids, sink_flags, num_tokens, &layout);
 *   blindsight_plan_create(layout, NULL, &plan);          // NULL: default options
 *   blindsight_layout_destroy(layout);                    // the plan keeps what it needs
 *   for each layer:  blindsight_attention(plan, &args);   // args.heads = that layer's categories
 *   blindsight_plan_destroy(plan);
 */
#ifndef BLINDSIGHT_H
#define BLINDSIGHT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Bumped whenever a declaration below changes incompatibly (a struct's layout, a function's signature, an enum's
 * value). Compare with blindsight_abi_version() at load time: a library and a header with different ABI versions
 * must not be mixed.
 */
#define BLINDSIGHT_ABI_VERSION 3

#if defined(_WIN32)
#if defined(BLINDSIGHT_BUILDING)
#define BLINDSIGHT_API __declspec(dllexport)
#else
#define BLINDSIGHT_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) || defined(__clang__)
#define BLINDSIGHT_API __attribute__((visibility("default")))
#else
#define BLINDSIGHT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status ---------------------------------------------------------------------------------------------------- */

typedef enum blindsight_status {
  BLINDSIGHT_OK = 0,
  BLINDSIGHT_ERR_INVALID_ARGUMENT = 1, /* a null pointer, a negative count, an unknown enum value, a bad option */
  BLINDSIGHT_ERR_BAD_LAYOUT = 2,       /* cu_seqlens / image_ids / sink_flags do not describe a valid batch */
  BLINDSIGHT_ERR_SHAPE = 3,            /* head counts or head_dim out of range, num_heads % num_kv_heads != 0 */
  BLINDSIGHT_ERR_UNSUPPORTED = 4,      /* a dtype or CPU ISA level this build or machine does not compute */
  BLINDSIGHT_ERR_UNAVAILABLE = 5,      /* the backend is not in this build (e.g. CUDA), or has no usable device */
  BLINDSIGHT_ERR_OUT_OF_MEMORY = 6,
  BLINDSIGHT_ERR_BACKEND = 7,          /* the backend failed (e.g. a CUDA error); see blindsight_last_error() */
  BLINDSIGHT_ERR_INTERNAL = 8          /* a bug: please report it with blindsight_last_error()'s text */
} blindsight_status;

/*
 * What the most recent blindsight_* call on this thread said: "" after a success, otherwise
 * "[CODE] message" where CODE is the same code the npm package's BlindsightError carries (e.g. "[BAD_GQA] ..."); the
 * codes and the status each maps to are listed in native/core/error_codes.h and the README's error table.
 * The pointer stays valid until the next blindsight_* call on the same thread.
 */
BLINDSIGHT_API const char* blindsight_last_error(void);

/* A constant name for a status ("BLINDSIGHT_ERR_SHAPE"), "unknown status" otherwise. */
BLINDSIGHT_API const char* blindsight_status_name(blindsight_status status);

/* ---- version and capabilities ---------------------------------------------------------------------------------- */

/* The package version this library was built from, e.g. "0.1.0". */
BLINDSIGHT_API const char* blindsight_version(void);
/* BLINDSIGHT_ABI_VERSION of the headers the library was built with. */
BLINDSIGHT_API int blindsight_abi_version(void);
/* CPU kernel ISA levels this machine runs, comma-separated, best last (e.g. "generic,avx2,avx512,avx512bf16"). */
BLINDSIGHT_API const char* blindsight_cpu_isas(void);
/* 1 if this library was built with the CUDA backend and a CUDA device is usable now; otherwise 0, and
 * blindsight_last_error() says why. */
BLINDSIGHT_API int blindsight_cuda_available(void);

/* ---- enums shared with the TypeScript layer and native/core (the values are fixed) ----------------------------- */

typedef enum blindsight_category {
  BLINDSIGHT_DENSE = 0,            /* everything causal */
  BLINDSIGHT_SINK = 1,             /* an image query sees itself, every sink, and text (with text_keys) */
  BLINDSIGHT_INTRA_IMAGE = 2,      /* its own image (causal), and text (with text_keys) */
  BLINDSIGHT_INTRA_IMAGE_SINK = 3  /* its own image, every sink, and text (with text_keys) */
} blindsight_category;

typedef enum blindsight_dtype {
  BLINDSIGHT_F32 = 0,
  BLINDSIGHT_F16 = 1, /* IEEE half */
  BLINDSIGHT_BF16 = 2
} blindsight_dtype;

typedef enum blindsight_segment_kind { BLINDSIGHT_TEXT = 0, BLINDSIGHT_IMAGE = 1 } blindsight_segment_kind;

/* ---- layouts --------------------------------------------------------------------------------------------------- */

/* A packed batch of sequences with every token's kind (FlashAttention varlen packing). Immutable. */
typedef struct blindsight_layout blindsight_layout;

/*
 * From the arrays the npm package's Layout exposes:
 *   cu_seqlens[num_sequences + 1]  sequence s is tokens [cu_seqlens[s], cu_seqlens[s+1]); 0 first, num_tokens last,
 *                                  strictly increasing
 *   image_ids[num_tokens]          the token's image span id (>= 0), or -1 for text; one id per contiguous span
 *   sink_flags[num_tokens]         1 for sinks: at least the first token of every image span (the image's start
 *                                  delimiter), usually also the first token(s) of each sequence
 * The arrays are copied; the caller may free them afterwards.
 */
BLINDSIGHT_API blindsight_status blindsight_layout_create(const int32_t* cu_seqlens, int32_t num_sequences,
                                                          const int32_t* image_ids, const uint8_t* sink_flags,
                                                          int32_t num_tokens, blindsight_layout** out_layout);

typedef struct blindsight_segment {
  int32_t kind;   /* blindsight_segment_kind */
  int32_t length; /* tokens, >= 1 */
} blindsight_segment;

/*
 * From segment metadata, as Layout.fromSegments: sequence s is the next segments_per_sequence[s] entries of
 * segments. Every image segment is one image (ids 0, 1, ... in batch order) whose first token is a sink; the first
 * global_sinks tokens of every sequence are sinks too (the npm package's default is 1).
 */
BLINDSIGHT_API blindsight_status blindsight_layout_from_segments(const blindsight_segment* segments,
                                                                 const int32_t* segments_per_sequence,
                                                                 int32_t num_sequences, int32_t global_sinks,
                                                                 blindsight_layout** out_layout);

BLINDSIGHT_API int32_t blindsight_layout_num_tokens(const blindsight_layout* layout);
BLINDSIGHT_API int32_t blindsight_layout_num_sequences(const blindsight_layout* layout);
/* Null is allowed. */
BLINDSIGHT_API void blindsight_layout_destroy(blindsight_layout* layout);

/* ---- plans ----------------------------------------------------------------------------------------------------- */

/* The block plan of one prompt: built once, reused by every layer and head (only the category differs). */
typedef struct blindsight_plan blindsight_plan;

typedef struct blindsight_plan_options {
  int32_t text_keys;            /* image queries of sparse heads also see every text key (default 1) */
  int32_t bidirectional_images; /* tokens of one image see each other both ways, Gemma 3 style (default 0) */
  int32_t window;               /* sliding window W; 0 = none (default). Keys with q - k >= W are hidden, sinks too
                                   unless window_keeps_sinks */
  int32_t block_m;              /* query tokens per block: a multiple of 8 in [8, 256] (default 64) */
  int32_t block_n;              /* key tokens per block: a multiple of 8 in [8, 256] (default 64) */
  int32_t exhaustive;           /* verification mode: every block visited with the element rule (default 0) */
  int32_t window_keeps_sinks;   /* sinks stay visible beyond the window (default 1); 0: a plain sliding window, as
                                   Gemma 3's local layers have */
} blindsight_plan_options;

/* Fills in the defaults listed above. */
BLINDSIGHT_API void blindsight_plan_options_init(blindsight_plan_options* options);

/* options may be null (the defaults). The plan keeps its own reference to the layout's data. */
BLINDSIGHT_API blindsight_status blindsight_plan_create(const blindsight_layout* layout,
                                                        const blindsight_plan_options* options,
                                                        blindsight_plan** out_plan);
/* Null is allowed. Must not race with an attention call using the plan. */
BLINDSIGHT_API void blindsight_plan_destroy(blindsight_plan* plan);

typedef struct blindsight_category_stats {
  int64_t visible_pairs;  /* (q, k) pairs the mask keeps, for one head of this category */
  int64_t full_blocks;    /* visited blocks with every pair visible (no per-element test) */
  int64_t partial_blocks; /* visited blocks where the element rule decides */
  int64_t skipped_blocks; /* grid_blocks - full - partial */
  int64_t gathered_keys;  /* keys visited through gathered tiles (scattered sinks / text), over query blocks */
  int64_t computed_pairs; /* pairs the kernel computes for one head: visited block areas plus gathered tiles */
} blindsight_category_stats;

typedef struct blindsight_plan_stats {
  int32_t num_tokens;
  int32_t num_query_blocks;
  int64_t bytes;              /* memory the plan holds */
  int64_t dense_causal_pairs; /* one dense causal head: sum over sequences of L(L+1)/2 */
  int64_t grid_blocks;        /* (query block, key block) pairs inside sequences */
  int64_t causal_blocks;      /* of those, blocks holding a k <= q pair */
  blindsight_category_stats category[4]; /* indexed by blindsight_category */
} blindsight_plan_stats;

/* FLOPs kept by a layer = sum over its heads h of category[heads[h]].visible_pairs / dense_causal_pairs. */
BLINDSIGHT_API blindsight_status blindsight_plan_get_stats(const blindsight_plan* plan,
                                                           blindsight_plan_stats* out_stats);

/*
 * The (q, k) pairs that `category` keeps with q in [query_begin, query_end) and k in [key_begin, key_end) (token
 * positions of the layout, 0 <= begin <= end <= num_tokens), counted from the segment boundaries in O(segments). Zero
 * means a call over those queries and keys computes nothing for such a head (a ring-attention step to skip).
 */
BLINDSIGHT_API blindsight_status blindsight_plan_visible_pairs(const blindsight_plan* plan, int32_t category,
                                                               int32_t query_begin, int32_t query_end,
                                                               int32_t key_begin, int32_t key_end,
                                                               int64_t* out_pairs);

/* ---- attention ------------------------------------------------------------------------------------------------- */

/* Where a tensor's elements are: element (row, head, d) at row * token + head * head + d, in elements (head_dim
 * contiguous). {0, 0} means densely packed token-major: token = heads * head_dim, head = head_dim. */
typedef struct blindsight_strides {
  int64_t token;
  int64_t head;
} blindsight_strides;

/*
 * One layer's prefill attention. By default over all the plan's tokens: N = the layout's num_tokens, and tensors are
 * token-major, row-major, densely packed:
 *   q, out  [N, num_heads, head_dim]       k, v  [N, num_kv_heads, head_dim]       lse  [N, num_heads] (f32)
 * Element (t, h, d) of q is at (t * num_heads + h) * head_dim + d. Query head h reads KV head
 * h / (num_heads / num_kv_heads) (GQA). out and lse must not overlap the inputs.
 *
 * query_ranges / key_ranges (2 * num_sequences int32s: begin, end per sequence, in layout token positions; null = all
 * tokens) restrict the call to those query and key tokens: q, out and lse then hold the query tokens' rows and k, v
 * the key tokens' rows, sequence after sequence. The mask is the plan's, in layout coordinates, so prefilling a
 * prompt in chunks of queries against a growing KV cache gives the rows of one whole-prompt call; over part of the
 * keys the result is partial (merge with blindsight_merge_attention; a row that sees no key of the range has out 0
 * and lse -inf). The *_strides fields lay the tensors out otherwise (a head-major KV cache: token = head_dim, head =
 * capacity * head_dim); strides must not make two elements share memory.
 */
typedef struct blindsight_attention_args {
  const void* q;
  const void* k;
  const void* v;
  void* out;
  float* lse;            /* optional: natural-log log-sum-exp of the scaled scores per (token, head); may be null */
  const uint8_t* heads;  /* num_heads blindsight_category values: this layer's categories */
  int32_t num_heads;     /* in [1, 65536], a multiple of num_kv_heads */
  int32_t num_kv_heads;
  int32_t head_dim;      /* a multiple of 8 in [8, 512] */
  float scale;           /* score scale; 0 means 1/sqrt(head_dim) */
  int32_t input_dtype;   /* blindsight_dtype of q, k, v (every backend takes all three; accumulation is f32) */
  int32_t output_dtype;  /* blindsight_dtype of out */
  int32_t threads;       /* CPU threads for this call; 0 = the pool's size (the machine's cores) */
  const char* isa;       /* CPU kernel level (blindsight_cpu_isas() lists this machine's, e.g. "generic", "avx2",
                            "avx512", "avx512bf16"); null = BLINDSIGHT_ISA env or the best */
  const int32_t* query_ranges; /* null = every token; else begin, end per sequence (see above) */
  const int32_t* key_ranges;   /* null = every token */
  blindsight_strides q_strides, k_strides, v_strides, out_strides; /* {0, 0} = packed token-major */
  int64_t* computed_pairs;     /* optional out (CPU backend): the (query row, key) pairs the kernel computed, all
                                  heads — the call's real work, against the plan's visible pairs */
  struct blindsight_kv_pack* kv_pack; /* optional (blindsight_attention): the K/V copy kept between micro-batches of
                                         one layer (see blindsight_kv_pack_create); null = a copy per call */
} blindsight_attention_args;

/*
 * The CPU kernel reads each KV head's keys as one contiguous run, so it copies a token-major k / v of several KV heads
 * head-major on every call, every key row the call visits: in micro-batches against a growing cache, the cache so far
 * again and again (text queries see all of it). A kv pack keeps that copy between the blindsight_attention calls of
 * one layer (set args.kv_pack): each call copies only the key rows no earlier call copied; results are bit for bit
 * those of calls without it. The promise it takes: while the pack holds a token's rows, that token's k and v rows do
 * not change (one pack per layer of one prompt; blindsight_kv_pack_reset when the cache is rewritten). A call whose
 * kept rows differ from the caller's (four are compared per call) fails with BLINDSIGHT_ERR_INVALID_ARGUMENT,
 * [KV_PACK_STALE]; a call of another shape starts the pack over. K and V read in place (one layout for both, each
 * head's rows contiguous: a head-major cache, or a single KV head) leave the pack alone. The copy holds 2 x tokens x
 * num_kv_heads x head_dim elements of the input type until the pack is destroyed. Calls with one pack run one at a
 * time (a reset on another thread leaves a running call its rows); destroy it after the calls using it returned.
 * blindsight_attention_cuda and blindsight_attention_observe ignore kv_pack.
 */
typedef struct blindsight_kv_pack blindsight_kv_pack;
BLINDSIGHT_API blindsight_status blindsight_kv_pack_create(blindsight_kv_pack** out_pack);
/* Drops the kept rows (keeps the memory for the next prompt's rows). */
BLINDSIGHT_API blindsight_status blindsight_kv_pack_reset(blindsight_kv_pack* pack);
BLINDSIGHT_API void blindsight_kv_pack_destroy(blindsight_kv_pack* pack);

/* Zeroes args and sets the defaults: f32 in and out, scale 0 (1/sqrt(head_dim)), threads 0, isa null. */
BLINDSIGHT_API void blindsight_attention_args_init(blindsight_attention_args* args);

/* Host pointers, CPU backend. Blocks until done. */
BLINDSIGHT_API blindsight_status blindsight_attention(const blindsight_plan* plan,
                                                      const blindsight_attention_args* args);

/*
 * Device pointers (q, k, v, out, lse in CUDA device memory), enqueued on cuda_stream (a cudaStream_t; null = the
 * default stream). Declared in every build; a library built without CUDA returns BLINDSIGHT_ERR_UNAVAILABLE.
 * threads and isa are ignored.
 */
BLINDSIGHT_API blindsight_status blindsight_attention_cuda(const blindsight_plan* plan,
                                                           const blindsight_attention_args* args,
                                                           void* cuda_stream);

/* ---- merging partial results --------------------------------------------------------------------------------- */

/* One partial result: out [rows, num_heads, head_dim] of the merge's input_dtype and lse [rows, num_heads], packed. */
typedef struct blindsight_partial {
  const void* out;
  const float* lse;
} blindsight_partial;

typedef struct blindsight_merge_args {
  const blindsight_partial* partials;
  int32_t num_partials;  /* >= 1 */
  int64_t rows;
  int32_t num_heads;
  int32_t head_dim;
  int32_t input_dtype;   /* blindsight_dtype of the partials' out */
  int32_t output_dtype;  /* blindsight_dtype of out */
  void* out;             /* [rows, num_heads, head_dim]; may be one of the partials' out (same dtype) */
  float* lse;            /* [rows, num_heads] or null; may be one of the partials' lse */
  int32_t threads;       /* 0 = the pool's size */
} blindsight_merge_args;

/*
 * Combines the results of calls over disjoint key ranges of the same query rows (KV shards, ring-attention steps):
 * lse = log(sum_i e^lse_i), out = sum_i e^(lse_i - lse) out_i, in double precision against the largest lse. A
 * partial with lse -inf weighs nothing; a row that every partial saw nothing of gets out 0 and lse -inf.
 */
BLINDSIGHT_API blindsight_status blindsight_merge_attention(const blindsight_merge_args* args);

/* ---- calibration ------------------------------------------------------------------------------------------------ */

/*
 * A streaming calibrator: a model's per-(layer, head) attention statistics, accumulated from observations of single
 * layers of sample prompts (in any layer order, over any number of prompts, from any number of threads at once), from
 * which it decides a head policy (docs/calibration.md). Memory: the statistics (layers x heads x buckets) plus one
 * observation's working set; nothing is kept per prompt but a line of metadata. The calibration loop of a runtime is
 * its ordinary prefill: per sample prompt, plan it, and in every layer call blindsight_attention_observe instead of
 * blindsight_attention (dense attention for the model, observed); then blindsight_calibrator_policy.
 *
 * Prompts are told apart by their plans: build one plan per prompt, and observe every layer of a prompt with it.
 */
typedef struct blindsight_calibrator blindsight_calibrator;

typedef struct blindsight_calibrator_options {
  int32_t num_layers;
  int32_t num_heads;            /* in [1, 65536], a multiple of num_kv_heads */
  int32_t num_kv_heads;
  int32_t head_dim;             /* in [1, 1024]; with output_error a multiple of 8 in [8, 512] */
  int32_t text_keys;            /* the policy's default, and the plan option output errors are measured under (1) */
  int32_t bidirectional_images; /* the model's base mask: observed plans must have it (default 0) */
  int32_t window;               /* likewise (default 0 = none) */
  float scale;                  /* score scale of observations that name none; 0 = 1/sqrt(head_dim) (default) */
  int32_t output_error;         /* also measure each category's output error against dense from v (default 0) */
} blindsight_calibrator_options;

/* Fills in the defaults listed above (the shape fields stay 0: the caller sets them). */
BLINDSIGHT_API void blindsight_calibrator_options_init(blindsight_calibrator_options* options);

BLINDSIGHT_API blindsight_status blindsight_calibrator_create(const blindsight_calibrator_options* options,
                                                              blindsight_calibrator** out_calibrator);
/* Null is allowed. Must not race with a call using the calibrator. */
BLINDSIGHT_API void blindsight_calibrator_destroy(blindsight_calibrator* calibrator);

/*
 * One layer of one prompt: q [N, num_heads, head_dim], k and v [N, num_kv_heads, head_dim], token-major as
 * blindsight_attention takes them (N = the plan's tokens).
 */
typedef struct blindsight_observe_args {
  int32_t layer;       /* in [0, num_layers) */
  const void* q;
  const void* k;
  const void* v;       /* optional (null): the values, for a calibrator with output_error */
  int32_t input_dtype; /* blindsight_dtype of q, k, v */
  float scale;         /* 0 = the calibrator's */
  const char* sample;  /* optional: the prompt's name in the statistics (kept from its first observation) */
  int32_t threads;     /* CPU threads; 0 = the pool's size */
  const char* isa;     /* as in blindsight_attention_args */
} blindsight_observe_args;

/* Zeroes args: layer 0, f32, scale 0, no v, no name, threads 0, isa null. */
BLINDSIGHT_API void blindsight_observe_args_init(blindsight_observe_args* args);

/* Measures the observation and merges it in; blocks until done. Safe to call from several threads at once. */
BLINDSIGHT_API blindsight_status blindsight_calibrator_observe(blindsight_calibrator* calibrator,
                                                               const blindsight_plan* plan,
                                                               const blindsight_observe_args* args);

/*
 * Calibration mode of the attention step: the dense attention the model needs, into args->out (args->heads may be
 * null; if given, every head must be BLINDSIGHT_DENSE), then the observation of this layer (with v and, for an f32
 * out, the output itself when the calibrator measures output errors). Everything is checked before anything runs.
 */
BLINDSIGHT_API blindsight_status blindsight_attention_observe(const blindsight_plan* plan,
                                                              const blindsight_attention_args* args,
                                                              blindsight_calibrator* calibrator, int32_t layer);

typedef struct blindsight_thresholds {
  double tau;               /* retained mass to reach, averaged over all image queries (default 0.95) */
  double worst_tau;         /* ... and in the worst sample; < 0 = tau - 0.05 (default -1) */
  int32_t text_keys;        /* whether sparse heads see text keys; < 0 = the calibrator's (default -1) */
  int32_t pin_first;        /* keep the first pin_first layers dense (default 0) */
  int32_t pin_last;         /* keep the last pin_last layers dense (default 0) */
  const int32_t* pin_layers; /* keep these layers dense (num_pin_layers entries; may be null if 0) */
  int32_t num_pin_layers;
} blindsight_thresholds;

/* Fills in the defaults listed above. */
BLINDSIGHT_API void blindsight_thresholds_init(blindsight_thresholds* thresholds);

/*
 * The policy: num_layers x num_heads blindsight_category values, layer-major, into categories. thresholds may be null
 * (the defaults). Fails with the code NOT_OBSERVED until every layer has been observed, NO_IMAGE_QUERIES if a layer
 * saw no image token.
 */
BLINDSIGHT_API blindsight_status blindsight_calibrator_policy(const blindsight_calibrator* calibrator,
                                                              const blindsight_thresholds* thresholds,
                                                              uint8_t* categories);

/*
 * The same policy as the npm package's HeadPolicy JSON, with the statistics in meta.calibration (what
 * `blindsight calibrate` writes; HeadPolicy.load and `blindsight rethreshold` read it). model may be null. Writes the
 * text and a terminating NUL into buffer when size is enough, and its length (without the NUL) into *length; with a
 * null buffer only the length. A buffer too small is BLINDSIGHT_ERR_INVALID_ARGUMENT (with *length set).
 */
BLINDSIGHT_API blindsight_status blindsight_calibrator_policy_json(const blindsight_calibrator* calibrator,
                                                                   const blindsight_thresholds* thresholds,
                                                                   const char* model, char* buffer, size_t size,
                                                                   size_t* length);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BLINDSIGHT_H */
