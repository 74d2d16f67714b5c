/*
 * Calling blindsight from C: one prompt (text, two images, a question), one plan, one layer's attention.
 *
 *   cmake -S . -B build-capi && cmake --build build-capi -j
 *   cc -std=c99 -I native/include examples/c/attention.c -L build-capi -lblindsight -Wl,-rpath,build-capi -lm
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "blindsight.h"

#define CHECK(call)                                                                                 \
  do {                                                                                              \
    blindsight_status status_ = (call);                                                             \
    if (status_ != BLINDSIGHT_OK) {                                                                 \
      fprintf(stderr, "%s: %s %s\n", #call, blindsight_status_name(status_), blindsight_last_error()); \
      return 1;                                                                                     \
    }                                                                                               \
  } while (0)

enum { HEADS = 4, KV_HEADS = 2, DIM = 64 };

int main(void) {
  if (blindsight_abi_version() != BLINDSIGHT_ABI_VERSION) {
    fprintf(stderr, "libblindsight ABI %d, header ABI %d\n", blindsight_abi_version(), BLINDSIGHT_ABI_VERSION);
    return 1;
  }

  /* The prompt's structure, once per prompt. */
  const blindsight_segment segments[] = {
      {BLINDSIGHT_TEXT, 16}, {BLINDSIGHT_IMAGE, 96}, {BLINDSIGHT_IMAGE, 96}, {BLINDSIGHT_TEXT, 12}};
  const int32_t segments_per_sequence[] = {4};
  blindsight_layout* layout;
  blindsight_plan* plan;
  CHECK(blindsight_layout_from_segments(segments, segments_per_sequence, 1, /*global_sinks=*/1, &layout));
  CHECK(blindsight_plan_create(layout, NULL, &plan));
  const int32_t n = blindsight_layout_num_tokens(layout);
  blindsight_layout_destroy(layout);

  /* The runtime's own activations: token-major [n, heads, DIM]. */
  float* q = malloc(sizeof(float) * n * HEADS * DIM);
  float* k = malloc(sizeof(float) * n * KV_HEADS * DIM);
  float* v = malloc(sizeof(float) * n * KV_HEADS * DIM);
  float* out = malloc(sizeof(float) * n * HEADS * DIM);
  if (!q || !k || !v || !out) return 1;
  for (long i = 0; i < (long)n * HEADS * DIM; i++) q[i] = (float)sin(0.37 * i);
  for (long i = 0; i < (long)n * KV_HEADS * DIM; i++) k[i] = (float)cos(0.11 * i), v[i] = (float)sin(0.05 * i + 1);

  /* One layer: a category per query head, from the model's head policy. */
  const uint8_t heads[HEADS] = {BLINDSIGHT_DENSE, BLINDSIGHT_SINK, BLINDSIGHT_INTRA_IMAGE, BLINDSIGHT_INTRA_IMAGE_SINK};
  blindsight_attention_args args;
  blindsight_attention_args_init(&args);
  args.q = q, args.k = k, args.v = v, args.out = out;
  args.heads = heads, args.num_heads = HEADS, args.num_kv_heads = KV_HEADS, args.head_dim = DIM;
  CHECK(blindsight_attention(plan, &args));

  blindsight_plan_stats stats;
  CHECK(blindsight_plan_get_stats(plan, &stats));
  double kept = 0, checksum = 0;
  for (int h = 0; h < HEADS; h++) kept += (double)stats.category[heads[h]].visible_pairs;
  kept /= (double)HEADS * (double)stats.dense_causal_pairs;
  for (long i = 0; i < (long)n * HEADS * DIM; i++) checksum += fabs(out[i]);
  printf("blindsight %s (CPU: %s): %d tokens, kept %.6f of dense attention FLOPs, sum |out| = %.9e\n",
         blindsight_version(), blindsight_cpu_isas(), n, kept, checksum);

  blindsight_plan_destroy(plan);
  free(q), free(k), free(v), free(out);
  return 0;
}
