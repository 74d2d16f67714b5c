/*
 * Test driver for the C ABI, compiled by test/e2e/capi.test.ts as plain C99 against native/include/blindsight.h.
 *
 *   capi_check run INPUT OUTPUT [ISA]   reads a problem written by the test, builds the layout both from its arrays and
 *                                       from its segments, plans, runs attention, writes stats + out + lse
 *   capi_check contract                 checks status codes and last-error text on bad calls, per-thread errors and
 *                                       concurrent calls on one plan; prints "ok N checks"
 *   capi_check case KEY=VALUE...        one call of a small fixed problem with the named fields changed (the bad-input
 *                                       table of test/e2e/error_codes.test.ts); prints the code it fails with, or OK
 *
 * INPUT (little-endian): int32 header[HEADER_FIELDS], float scale, then int32 arrays cu_seqlens[S+1], image_ids[N],
 * sink_flags[N], segments_per_sequence[S], segments[2*G] (kind, length), heads[H]; then float q, k, v.
 * OUTPUT: int64 stats[3 + 4*6] (dense_causal_pairs, grid_blocks, causal_blocks, then per category visible, full,
 * partial, skipped, gathered, computed), then float out[N*H*D], lse[N*H].
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blindsight.h"

enum { S, N, G, GLOBAL_SINKS, H, KVH, D, TEXT_KEYS, BIDI, WINDOW, BLOCK_M, BLOCK_N, THREADS, HEADER_FIELDS };

static void* readAll(FILE* f, size_t bytes) {
  void* p = malloc(bytes ? bytes : 1);
  if (!p || fread(p, 1, bytes, f) != bytes) {
    fprintf(stderr, "short read\n");
    exit(2);
  }
  return p;
}

#define MUST(call)                                                                                    \
  do {                                                                                                \
    blindsight_status s_ = (call);                                                                    \
    if (s_ != BLINDSIGHT_OK) {                                                                        \
      fprintf(stderr, "%s: %s %s\n", #call, blindsight_status_name(s_), blindsight_last_error());     \
      exit(3);                                                                                        \
    }                                                                                                 \
  } while (0)

static int run(const char* inPath, const char* outPath, const char* isa) {
  FILE* in = fopen(inPath, "rb");
  if (!in) return 2;
  int32_t hd[HEADER_FIELDS];
  float scale;
  if (fread(hd, sizeof hd, 1, in) != 1 || fread(&scale, sizeof scale, 1, in) != 1) return 2;
  const size_t n = (size_t)hd[N], qn = n * hd[H] * hd[D], kvn = n * hd[KVH] * hd[D];
  int32_t* cu = readAll(in, 4 * (size_t)(hd[S] + 1));
  int32_t* ids = readAll(in, 4 * n);
  int32_t* sinks32 = readAll(in, 4 * n);
  int32_t* perSeq = readAll(in, 4 * (size_t)hd[S]);
  blindsight_segment* segs = readAll(in, sizeof(blindsight_segment) * (size_t)hd[G]);
  int32_t* heads32 = readAll(in, 4 * (size_t)hd[H]);
  float* q = readAll(in, 4 * qn);
  float* k = readAll(in, 4 * kvn);
  float* v = readAll(in, 4 * kvn);
  fclose(in);

  uint8_t* sinks = malloc(n);
  uint8_t* heads = malloc((size_t)hd[H]);
  for (size_t t = 0; t < n; t++) sinks[t] = (uint8_t)sinks32[t];
  for (int32_t h = 0; h < hd[H]; h++) heads[h] = (uint8_t)heads32[h];

  blindsight_plan_options o;
  blindsight_plan_options_init(&o);
  o.text_keys = hd[TEXT_KEYS], o.bidirectional_images = hd[BIDI], o.window = hd[WINDOW];
  o.block_m = hd[BLOCK_M], o.block_n = hd[BLOCK_N];

  /* The two ways to describe a prompt must give the same plan. */
  blindsight_layout *fromArrays, *fromSegments;
  blindsight_plan *plan, *plan2;
  MUST(blindsight_layout_create(cu, hd[S], ids, sinks, hd[N], &fromArrays));
  MUST(blindsight_layout_from_segments(segs, perSeq, hd[S], hd[GLOBAL_SINKS], &fromSegments));
  MUST(blindsight_plan_create(fromArrays, &o, &plan));
  MUST(blindsight_plan_create(fromSegments, &o, &plan2));
  if (blindsight_layout_num_tokens(fromSegments) != hd[N] || blindsight_layout_num_sequences(fromSegments) != hd[S]) {
    fprintf(stderr, "layout from segments has a different shape\n");
    return 4;
  }
  blindsight_layout_destroy(fromArrays); /* the plans keep what they need */
  blindsight_layout_destroy(fromSegments);
  blindsight_plan_stats st, st2;
  MUST(blindsight_plan_get_stats(plan, &st));
  MUST(blindsight_plan_get_stats(plan2, &st2));
  if (memcmp(&st, &st2, sizeof st) != 0) {
    fprintf(stderr, "plans from arrays and from segments differ\n");
    return 4;
  }
  blindsight_plan_destroy(plan2);

  float* out = malloc(4 * qn);
  float* lse = malloc(4 * n * hd[H]);
  for (size_t i = 0; i < qn; i++) out[i] = NAN; /* poison: an unwritten element fails the comparison */
  for (size_t i = 0; i < n * hd[H]; i++) lse[i] = NAN;
  blindsight_attention_args a;
  blindsight_attention_args_init(&a);
  a.q = q, a.k = k, a.v = v, a.out = out, a.lse = lse, a.heads = heads;
  a.num_heads = hd[H], a.num_kv_heads = hd[KVH], a.head_dim = hd[D], a.scale = scale, a.threads = hd[THREADS];
  a.isa = isa;
  MUST(blindsight_attention(plan, &a));
  blindsight_plan_destroy(plan);

  FILE* f = fopen(outPath, "wb");
  if (!f) return 2;
  int64_t s[3 + 4 * 6] = {st.dense_causal_pairs, st.grid_blocks, st.causal_blocks};
  for (int c = 0; c < 4; c++) {
    const blindsight_category_stats* cs = &st.category[c];
    int64_t* d = s + 3 + 6 * c;
    d[0] = cs->visible_pairs, d[1] = cs->full_blocks, d[2] = cs->partial_blocks;
    d[3] = cs->skipped_blocks, d[4] = cs->gathered_keys, d[5] = cs->computed_pairs;
  }
  fwrite(s, sizeof s, 1, f);
  fwrite(out, 4, qn, f);
  fwrite(lse, 4, n * hd[H], f);
  fclose(f);
  free(cu), free(ids), free(sinks32), free(perSeq), free(segs), free(heads32), free(q), free(k), free(v);
  free(sinks), free(heads), free(out), free(lse);
  return 0;
}

/* ---- the contract: errors, threads -------------------------------------------------------------------------------- */

static int checks = 0, failures = 0;

static void expectStatus(const char* what, blindsight_status got, blindsight_status want, const char* code) {
  checks++;
  const char* msg = blindsight_last_error();
  const int ok = got == want && (want == BLINDSIGHT_OK ? msg[0] == '\0' : strstr(msg, code) == msg + 1 && msg[0] == '[');
  if (!ok) {
    failures++;
    fprintf(stderr, "FAIL %s: got %s \"%s\", want %s [%s]\n", what, blindsight_status_name(got), msg,
            blindsight_status_name(want), code ? code : "");
  }
}

static void expectTrue(const char* what, int cond) {
  checks++;
  if (!cond) failures++, fprintf(stderr, "FAIL %s\n", what);
}

/* One attention call on a shared plan, from its own thread. */
struct Job {
  const blindsight_plan* plan;
  blindsight_attention_args args;
  blindsight_status status;
};

static void* runJob(void* arg) {
  struct Job* job = arg;
  job->status = blindsight_attention(job->plan, &job->args);
  return NULL;
}

static void* otherThread(void* arg) {
  (void)arg;
  /* The main thread's failure is not visible here. */
  return (void*)(blindsight_last_error()[0] == '\0' ? "clean" : "leaked");
}

static int contract(void) {
  expectTrue("abi version", blindsight_abi_version() == BLINDSIGHT_ABI_VERSION);
  expectTrue("version string", strlen(blindsight_version()) > 0 && strcmp(blindsight_version(), "unknown") != 0);
  expectTrue("generic isa listed", strncmp(blindsight_cpu_isas(), "generic", 7) == 0);
  expectTrue("status names", strcmp(blindsight_status_name(BLINDSIGHT_ERR_SHAPE), "BLINDSIGHT_ERR_SHAPE") == 0);

  const int32_t cu[] = {0, 6, 10};
  const int32_t ids[] = {-1, 0, 0, 0, -1, -1, 1, 1, -1, -1};
  const uint8_t sinks[] = {1, 1, 0, 0, 0, 0, 1, 0, 0, 0};
  const uint8_t noImageSink[] = {1, 0, 0, 0, 0, 0, 1, 0, 0, 0};
  const int32_t badCu[] = {0, 7, 6};
  const int32_t reusedId[] = {-1, 0, 0, -1, 0, -1, 1, 1, -1, -1};
  blindsight_layout* layout = (blindsight_layout*)&checks; /* must be reset to null on failure */
  expectStatus("null arrays", blindsight_layout_create(NULL, 2, ids, sinks, 10, &layout), BLINDSIGHT_ERR_INVALID_ARGUMENT, "BAD_ARGUMENT");
  expectTrue("out handle nulled on failure", layout == NULL);
  expectStatus("null out", blindsight_layout_create(cu, 2, ids, sinks, 10, NULL), BLINDSIGHT_ERR_INVALID_ARGUMENT, "BAD_ARGUMENT");
  expectStatus("cu_seqlens not increasing", blindsight_layout_create(badCu, 2, ids, sinks, 10, &layout), BLINDSIGHT_ERR_BAD_LAYOUT, "BAD_CU_SEQLENS");
  expectStatus("cu_seqlens total", blindsight_layout_create(cu, 2, ids, sinks, 9, &layout), BLINDSIGHT_ERR_BAD_LAYOUT, "BAD_CU_SEQLENS");
  expectStatus("image without sink", blindsight_layout_create(cu, 2, ids, noImageSink, 10, &layout), BLINDSIGHT_ERR_BAD_LAYOUT, "BAD_SINKS");
  expectStatus("image id reused", blindsight_layout_create(cu, 2, reusedId, sinks, 10, &layout), BLINDSIGHT_ERR_BAD_LAYOUT, "BAD_IMAGE_ID");
  expectStatus("no tokens", blindsight_layout_create(cu, 2, ids, sinks, 0, &layout), BLINDSIGHT_ERR_BAD_LAYOUT, "EMPTY_LAYOUT");
  const blindsight_segment badSeg[] = {{BLINDSIGHT_TEXT, 3}, {7, 2}};
  const blindsight_segment zeroSeg[] = {{BLINDSIGHT_TEXT, 0}};
  const int32_t two[] = {2}, one[] = {1};
  expectStatus("bad segment kind", blindsight_layout_from_segments(badSeg, two, 1, 1, &layout), BLINDSIGHT_ERR_BAD_LAYOUT, "BAD_SEGMENTS");
  expectStatus("empty segment", blindsight_layout_from_segments(zeroSeg, one, 1, 1, &layout), BLINDSIGHT_ERR_BAD_LAYOUT, "BAD_SEGMENTS");
  expectStatus("negative global sinks", blindsight_layout_from_segments(badSeg, one, 1, -1, &layout), BLINDSIGHT_ERR_INVALID_ARGUMENT, "BAD_ARGUMENT");
  expectStatus("valid layout", blindsight_layout_create(cu, 2, ids, sinks, 10, &layout), BLINDSIGHT_OK, NULL);

  blindsight_plan* plan = NULL;
  blindsight_plan_options o;
  blindsight_plan_options_init(&o);
  expectTrue("option defaults", o.text_keys == 1 && o.block_m == 64 && o.block_n == 64 && o.window == 0 && o.exhaustive == 0 &&
                                    o.window_keeps_sinks == 1);
  o.block_m = 12;
  expectStatus("bad block size", blindsight_plan_create(layout, &o, &plan), BLINDSIGHT_ERR_INVALID_ARGUMENT, "BAD_BLOCK_SIZE");
  o.block_m = 64, o.window = -3;
  expectStatus("bad window", blindsight_plan_create(layout, &o, &plan), BLINDSIGHT_ERR_INVALID_ARGUMENT, "BAD_WINDOW");
  expectStatus("null layout", blindsight_plan_create(NULL, NULL, &plan), BLINDSIGHT_ERR_INVALID_ARGUMENT, "BAD_ARGUMENT");
  expectStatus("valid plan", blindsight_plan_create(layout, NULL, &plan), BLINDSIGHT_OK, NULL);
  blindsight_layout_destroy(layout);
  blindsight_plan_stats st;
  expectStatus("stats", blindsight_plan_get_stats(plan, &st), BLINDSIGHT_OK, NULL);
  /* Two sequences of 6 and 4 tokens: 21 + 10 dense causal pairs. */
  expectTrue("stats values", st.num_tokens == 10 && st.dense_causal_pairs == 31 && st.category[BLINDSIGHT_DENSE].visible_pairs == 31);

  float q[10 * 2 * 8], kv[10 * 1 * 8], out[10 * 2 * 8], lse[10 * 2];
  for (int i = 0; i < 160; i++) q[i] = (float)sin(i);
  for (int i = 0; i < 80; i++) kv[i] = (float)cos(i);
  const uint8_t heads[] = {BLINDSIGHT_SINK, BLINDSIGHT_DENSE}, badHeads[] = {BLINDSIGHT_SINK, 9};
  blindsight_attention_args a;
  blindsight_attention_args_init(&a);
  a.q = q, a.k = kv, a.v = kv, a.out = out, a.lse = lse, a.heads = heads, a.num_heads = 2, a.num_kv_heads = 1, a.head_dim = 8;
  expectStatus("valid attention", blindsight_attention(plan, &a), BLINDSIGHT_OK, NULL);
  expectTrue("outputs finite", isfinite(out[0]) && isfinite(out[159]) && isfinite(lse[19]));
  a.num_kv_heads = 3;
  expectStatus("gqa", blindsight_attention(plan, &a), BLINDSIGHT_ERR_SHAPE, "BAD_GQA");
  a.num_kv_heads = 1, a.head_dim = 12;
  expectStatus("head dim", blindsight_attention(plan, &a), BLINDSIGHT_ERR_SHAPE, "BAD_HEAD_DIM");
  a.head_dim = 8, a.heads = badHeads;
  expectStatus("category", blindsight_attention(plan, &a), BLINDSIGHT_ERR_INVALID_ARGUMENT, "UNKNOWN_CATEGORY");
  a.heads = heads, a.input_dtype = 5;
  expectStatus("dtype value", blindsight_attention(plan, &a), BLINDSIGHT_ERR_UNSUPPORTED, "UNSUPPORTED_DTYPE");
  a.input_dtype = BLINDSIGHT_F32, a.isa = "no-such-isa";
  expectStatus("isa", blindsight_attention(plan, &a), BLINDSIGHT_ERR_UNSUPPORTED, "UNSUPPORTED_ISA");
  a.isa = "generic", a.out = q;
  expectStatus("aliased out", blindsight_attention(plan, &a), BLINDSIGHT_ERR_INVALID_ARGUMENT, "ALIASED_OUTPUT");
  a.out = out, a.lse = (float*)out + 4;
  expectStatus("lse overlaps out", blindsight_attention(plan, &a), BLINDSIGHT_ERR_INVALID_ARGUMENT, "ALIASED_OUTPUT");
  a.lse = lse, a.scale = NAN;
  expectStatus("scale", blindsight_attention(plan, &a), BLINDSIGHT_ERR_INVALID_ARGUMENT, "BAD_ARGUMENT");
  a.scale = 0, a.q = NULL;
  expectStatus("null q", blindsight_attention(plan, &a), BLINDSIGHT_ERR_INVALID_ARGUMENT, "BAD_ARGUMENT");
  a.q = q;
  expectStatus("null plan", blindsight_attention(NULL, &a), BLINDSIGHT_ERR_INVALID_ARGUMENT, "BAD_ARGUMENT");

  /* Two key shards (keys [0, 3) + [6, 7) and [3, 6) + [7, 10) of the two sequences) merge into the whole call. */
  {
    float whole[160], wholeLse[20], parts[2][160], partLse[2][20], merged[160], mergedLse[20], kvs[2][80];
    blindsight_attention_args w;
    blindsight_attention_args_init(&w);
    w.q = q, w.k = kv, w.v = kv, w.out = whole, w.lse = wholeLse, w.heads = heads, w.num_heads = 2, w.num_kv_heads = 1, w.head_dim = 8;
    expectStatus("whole call", blindsight_attention(plan, &w), BLINDSIGHT_OK, NULL);
    const int32_t shards[2][4] = {{0, 3, 6, 7}, {3, 6, 7, 10}};
    for (int j = 0; j < 2; j++) {
      int rows = 0;
      for (int s = 0; s < 2; s++)
        for (int t = shards[j][2 * s]; t < shards[j][2 * s + 1]; t++) memcpy(kvs[j] + 8 * rows++, kv + 8 * t, 8 * sizeof(float));
      blindsight_attention_args p = w;
      p.k = p.v = kvs[j], p.out = parts[j], p.lse = partLse[j], p.key_ranges = shards[j];
      expectStatus("shard call", blindsight_attention(plan, &p), BLINDSIGHT_OK, NULL);
    }
    const blindsight_partial partials[2] = {{parts[0], partLse[0]}, {parts[1], partLse[1]}};
    blindsight_merge_args m = {partials, 2, 10, 2, 8, BLINDSIGHT_F32, BLINDSIGHT_F32, merged, mergedLse, 0};
    expectStatus("merge", blindsight_merge_attention(&m), BLINDSIGHT_OK, NULL);
    /* A comparison rather than fmax (GCC 12 for AArch64 crashes vectorising an fmax reduction at -O2), written so
       that a NaN difference fails the check (fmax would drop it). */
    double err = 0;
    for (int i = 0; i < 180; i++) {
      const double d = i < 160 ? fabs(merged[i] - whole[i]) : fabs(mergedLse[i - 160] - wholeLse[i - 160]);
      if (isnan(d)) err = INFINITY;
      else if (d > err) err = d;
    }
    expectTrue("merged shards equal the whole call", err < 1e-5);
    m.num_partials = 0;
    expectStatus("merge of nothing", blindsight_merge_attention(&m), BLINDSIGHT_ERR_INVALID_ARGUMENT, "BAD_ARGUMENT");
    m.num_partials = 2, m.out = parts[0] + 4;
    expectStatus("merge into a partial's middle", blindsight_merge_attention(&m), BLINDSIGHT_ERR_INVALID_ARGUMENT, "ALIASED_OUTPUT");
    const int32_t badRange[4] = {0, 7, 6, 10};
    blindsight_attention_args p = w;
    p.query_ranges = badRange;
    expectStatus("query range leaving its sequence", blindsight_attention(plan, &p), BLINDSIGHT_ERR_INVALID_ARGUMENT, "BAD_RANGE");
    p.query_ranges = NULL, p.k_strides.token = 4, p.k_strides.head = 8;
    expectStatus("k rows overlapping", blindsight_attention(plan, &p), BLINDSIGHT_ERR_SHAPE, "BAD_STRIDE");
    int64_t pairs = -1;
    expectStatus("visible pairs", blindsight_plan_visible_pairs(plan, BLINDSIGHT_DENSE, 0, 10, 0, 10, &pairs), BLINDSIGHT_OK, NULL);
    expectTrue("visible pairs of the whole matrix", pairs == 31);
    expectStatus("visible pairs of a key range", blindsight_plan_visible_pairs(plan, BLINDSIGHT_DENSE, 6, 10, 0, 6, &pairs), BLINDSIGHT_OK, NULL);
    expectTrue("sequences never see each other", pairs == 0);
    expectStatus("visible pairs, bad range", blindsight_plan_visible_pairs(plan, BLINDSIGHT_DENSE, 0, 11, 0, 10, &pairs),
                 BLINDSIGHT_ERR_INVALID_ARGUMENT, "BAD_RANGE");
  }

  /* A kv pack: micro-batches of both sequences against their token-major caches (2 KV heads: the copy the pack
     keeps), bit for bit the calls without it; kept rows that change fail; reset() starts over. */
  {
    static float q4[10 * 4 * 8], kv2[10 * 2 * 8], plain[10 * 4 * 8], packed[10 * 4 * 8], step[10 * 2 * 8];
    for (int i = 0; i < 10 * 4 * 8; i++) q4[i] = (float)sin(0.37 * i);
    for (int i = 0; i < 10 * 2 * 8; i++) kv2[i] = (float)cos(0.21 * i);
    const uint8_t heads4[4] = {BLINDSIGHT_DENSE, BLINDSIGHT_SINK, BLINDSIGHT_INTRA_IMAGE, BLINDSIGHT_INTRA_IMAGE_SINK};
    const int32_t queries[2][4] = {{0, 3, 6, 8}, {3, 6, 8, 10}}, keys[2][4] = {{0, 3, 6, 8}, {0, 6, 6, 10}};
    blindsight_kv_pack* pack = NULL;
    expectStatus("kv pack create", blindsight_kv_pack_create(&pack), BLINDSIGHT_OK, NULL);
    expectStatus("kv pack create, null out", blindsight_kv_pack_create(NULL), BLINDSIGHT_ERR_INVALID_ARGUMENT, "BAD_ARGUMENT");
    expectStatus("kv pack reset, null", blindsight_kv_pack_reset(NULL), BLINDSIGHT_ERR_INVALID_ARGUMENT, "BAD_ARGUMENT");
    int same = 1;
    for (int j = 0; j < 2; j++) {
      int qRows = 0, kRows = 0;
      for (int s = 0; s < 2; s++) {
        memcpy(step + 16 * kRows, kv2 + 16 * keys[j][2 * s], 16 * sizeof(float) * (size_t)(keys[j][2 * s + 1] - keys[j][2 * s]));
        kRows += keys[j][2 * s + 1] - keys[j][2 * s];
        qRows += queries[j][2 * s + 1] - queries[j][2 * s];
      }
      float qs[10 * 4 * 8];
      int at = 0;
      for (int s = 0; s < 2; s++)
        for (int t = queries[j][2 * s]; t < queries[j][2 * s + 1]; t++) memcpy(qs + 32 * at++, q4 + 32 * t, 32 * sizeof(float));
      blindsight_attention_args a;
      blindsight_attention_args_init(&a);
      a.q = qs, a.k = step, a.v = step, a.heads = heads4, a.num_heads = 4, a.num_kv_heads = 2, a.head_dim = 8;
      a.query_ranges = queries[j], a.key_ranges = keys[j];
      a.out = plain;
      expectStatus("micro-batch", blindsight_attention(plan, &a), BLINDSIGHT_OK, NULL);
      a.out = packed, a.kv_pack = pack;
      expectStatus("micro-batch with a kv pack", blindsight_attention(plan, &a), BLINDSIGHT_OK, NULL);
      same = same && memcmp(plain, packed, sizeof(float) * 32 * (size_t)qRows) == 0;
      if (j == 1) {
        for (int i = 0; i < 16 * kRows; i++) step[i] += 1.0f;  /* another layer's cache through the same pack */
        expectStatus("kv pack, changed rows", blindsight_attention(plan, &a), BLINDSIGHT_ERR_INVALID_ARGUMENT, "KV_PACK_STALE");
        expectStatus("kv pack reset", blindsight_kv_pack_reset(pack), BLINDSIGHT_OK, NULL);
        expectStatus("kv pack after reset", blindsight_attention(plan, &a), BLINDSIGHT_OK, NULL);
        a.out = plain, a.kv_pack = NULL;
        expectStatus("the changed rows without a pack", blindsight_attention(plan, &a), BLINDSIGHT_OK, NULL);
        same = same && memcmp(plain, packed, sizeof(float) * 32 * (size_t)qRows) == 0;
      }
    }
    expectTrue("kv pack gives the calls' rows bit for bit", same);
    blindsight_kv_pack_destroy(pack);
    blindsight_kv_pack_destroy(NULL);
  }

  /* Last-error text is per thread. */
  expectStatus("sets an error", blindsight_attention(plan, NULL), BLINDSIGHT_ERR_INVALID_ARGUMENT, "BAD_ARGUMENT");
  pthread_t th;
  void* verdict = NULL;
  pthread_create(&th, NULL, otherThread, NULL);
  pthread_join(th, &verdict);
  expectTrue("last error is thread-local", strcmp((const char*)verdict, "clean") == 0);
  expectTrue("still set on this thread", blindsight_last_error()[0] == '[');

  /* Handles are immutable: concurrent calls on one plan give what sequential calls give. */
  {
    enum { JOBS = 4, LEN = 10 * 2 * 8 };
    static float outs[JOBS][LEN], seq[JOBS][LEN];
    struct Job jobs[JOBS];
    pthread_t threads[JOBS];
    const uint8_t layerHeads[JOBS][2] = {{BLINDSIGHT_DENSE, BLINDSIGHT_SINK}, {BLINDSIGHT_INTRA_IMAGE, BLINDSIGHT_INTRA_IMAGE_SINK},
                                        {BLINDSIGHT_SINK, BLINDSIGHT_SINK}, {BLINDSIGHT_INTRA_IMAGE_SINK, BLINDSIGHT_DENSE}};
    int same = 1;
    for (int j = 0; j < JOBS; j++) {
      jobs[j].plan = plan;
      blindsight_attention_args_init(&jobs[j].args);
      jobs[j].args.q = q, jobs[j].args.k = kv, jobs[j].args.v = kv, jobs[j].args.out = seq[j];
      jobs[j].args.heads = layerHeads[j], jobs[j].args.num_heads = 2, jobs[j].args.num_kv_heads = 1, jobs[j].args.head_dim = 8;
      runJob(&jobs[j]);
      same &= jobs[j].status == BLINDSIGHT_OK;
      jobs[j].args.out = outs[j];
    }
    for (int j = 0; j < JOBS; j++) pthread_create(&threads[j], NULL, runJob, &jobs[j]);
    for (int j = 0; j < JOBS; j++) pthread_join(threads[j], NULL), same &= jobs[j].status == BLINDSIGHT_OK;
    expectTrue("concurrent calls on one plan", same && memcmp(outs, seq, sizeof outs) == 0);
    expectTrue("layers differ", memcmp(seq[0], seq[1], sizeof seq[0]) != 0);
  }

  if (blindsight_cuda_available()) {
    printf("cuda available\n");
  } else {
    expectTrue("cuda reason", strstr(blindsight_last_error(), "CUDA_UNAVAILABLE") != NULL);
    expectStatus("cuda entry", blindsight_attention_cuda(plan, &a, NULL), BLINDSIGHT_ERR_UNAVAILABLE, "CUDA_UNAVAILABLE");
  }
  blindsight_plan_destroy(plan);
  blindsight_plan_destroy(NULL);
  blindsight_layout_destroy(NULL);

  printf("%s %d checks\n", failures ? "FAILED" : "ok", checks);
  return failures ? 1 : 0;
}

/* ---- one case of the cross-door bad-input table --------------------------------------------------------------- */

/* text 8, image 16, text 8; 4 query heads on 2 KV heads, head dim 16 (or as the case says), every head dense. */
static int oneCase(int argc, char** argv) {
  int headDim = 16, numHeads = 4, numKvHeads = 2, category = 0, dtype = 0, outDtype = 0, blockM = 64, window = 0;
  int threads = 0, aliasOut = 0, qBegin = -1, qEnd = -1, kBegin = -1, kEnd = -1;
  long long qTokenStride = 0;
  float scale = 0.25f;
  static char isaName[64];
  const char* isa = NULL;
  for (int i = 0; i < argc; i++) {
    char key[32];
    char value[64];
    if (sscanf(argv[i], "%31[^=]=%63s", key, value) != 2) return 2;
    if (strcmp(key, "headDim") == 0) headDim = atoi(value);
    else if (strcmp(key, "numHeads") == 0) numHeads = atoi(value);
    else if (strcmp(key, "numKvHeads") == 0) numKvHeads = atoi(value);
    else if (strcmp(key, "category") == 0) category = atoi(value);
    else if (strcmp(key, "dtype") == 0) dtype = atoi(value);
    else if (strcmp(key, "outDtype") == 0) outDtype = atoi(value);
    else if (strcmp(key, "blockM") == 0) blockM = atoi(value);
    else if (strcmp(key, "window") == 0) window = atoi(value);
    else if (strcmp(key, "threads") == 0) threads = atoi(value);
    else if (strcmp(key, "aliasOut") == 0) aliasOut = atoi(value);
    else if (strcmp(key, "scale") == 0) scale = strcmp(value, "nan") == 0 ? NAN : (float)atof(value);
    else if (strcmp(key, "isa") == 0) isa = strcpy(isaName, value);
    else if (strcmp(key, "qBegin") == 0) qBegin = atoi(value);
    else if (strcmp(key, "qEnd") == 0) qEnd = atoi(value);
    else if (strcmp(key, "kBegin") == 0) kBegin = atoi(value);
    else if (strcmp(key, "kEnd") == 0) kEnd = atoi(value);
    else if (strcmp(key, "qTokenStride") == 0) qTokenStride = atoll(value);
    else return 2;
  }
  const blindsight_segment segs[] = {{BLINDSIGHT_TEXT, 8}, {BLINDSIGHT_IMAGE, 16}, {BLINDSIGHT_TEXT, 8}};
  const int32_t perSeq[] = {3};
  blindsight_layout* layout = NULL;
  blindsight_plan* plan = NULL;
  blindsight_status st = blindsight_layout_from_segments(segs, perSeq, 1, 1, &layout);
  if (st == BLINDSIGHT_OK) {
    blindsight_plan_options o;
    blindsight_plan_options_init(&o);
    o.block_m = blockM;
    o.window = window;
    st = blindsight_plan_create(layout, &o, &plan);
  }
  if (st == BLINDSIGHT_OK) {
    const int n = 32;
    const size_t heads = numHeads > 0 && numHeads <= 65536 ? (size_t)numHeads : 1;
    const size_t kvHeads = numKvHeads > 0 && numKvHeads <= 65536 ? (size_t)numKvHeads : 1;
    const size_t dim = headDim > 0 && headDim <= 4096 ? (size_t)headDim : 1;
    float* q = calloc((size_t)n * heads * dim, sizeof(float));
    float* kv = calloc((size_t)n * kvHeads * dim, sizeof(float));
    float* out = calloc((size_t)n * heads * dim, sizeof(float));
    uint8_t* cats = malloc(heads);
    for (size_t h = 0; h < heads; h++) cats[h] = (uint8_t)category;
    blindsight_attention_args a;
    blindsight_attention_args_init(&a);
    a.q = q, a.k = kv, a.v = kv, a.out = aliasOut ? q : out, a.heads = cats;
    a.num_heads = numHeads, a.num_kv_heads = numKvHeads, a.head_dim = headDim, a.scale = scale;
    a.input_dtype = dtype, a.output_dtype = outDtype, a.threads = threads, a.isa = isa;
    const int32_t qRange[2] = {qBegin, qEnd}, kRange[2] = {kBegin, kEnd};
    if (qBegin >= 0) a.query_ranges = qRange;
    if (kBegin >= 0) a.key_ranges = kRange;
    if (qTokenStride != 0) a.q_strides.token = qTokenStride, a.q_strides.head = headDim;
    st = blindsight_attention(plan, &a);
    free(q), free(kv), free(out), free(cats);
  }
  if (st == BLINDSIGHT_OK) {
    printf("OK\n");
  } else {
    /* "[CODE] message": print CODE */
    const char* e = blindsight_last_error();
    const char* end = strchr(e, ']');
    printf("%.*s\n", end && e[0] == '[' ? (int)(end - e - 1) : 0, e + 1);
  }
  blindsight_plan_destroy(plan);
  blindsight_layout_destroy(layout);
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 2 && strcmp(argv[1], "case") == 0) return oneCase(argc - 2, argv + 2);
  if (argc == 2 && strcmp(argv[1], "contract") == 0) return contract();
  if ((argc == 4 || argc == 5) && strcmp(argv[1], "run") == 0) return run(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
  fprintf(stderr, "usage: capi_check run INPUT OUTPUT [ISA] | capi_check contract | capi_check case KEY=VALUE...\n");
  return 2;
}
