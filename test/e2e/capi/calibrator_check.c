/* The C ABI's calibrator: its error paths (a status and a coded last-error text, never a crash), and the same policy
 * from observations made one after another, through the attention hook's calibration mode, and from four threads
 * at once in different orders. Prints "ok <n> checks", then one policy JSON per line: sequential, hook, threads. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blindsight.h"

#define LAYERS 2
#define HEADS 4
#define KV 2
#define DIM 16
#define PROMPTS 2

static int checks = 0;

static void expect_code(blindsight_status st, const char* code, const char* what) {
  char want[64];
  snprintf(want, sizeof want, "[%s]", code);
  if (st == BLINDSIGHT_OK || strncmp(blindsight_last_error(), want, strlen(want)) != 0) {
    fprintf(stderr, "%s: expected %s, got status %s and \"%s\"\n", what, code, blindsight_status_name(st), blindsight_last_error());
    exit(1);
  }
  ++checks;
}

static void ok(blindsight_status st, const char* what) {
  if (st != BLINDSIGHT_OK) {
    fprintf(stderr, "%s failed: %s %s\n", what, blindsight_status_name(st), blindsight_last_error());
    exit(1);
  }
  ++checks;
}

static blindsight_plan* plans[PROMPTS];
static int32_t tokens[PROMPTS];
static float* q[PROMPTS][LAYERS];
static float* k[PROMPTS][LAYERS];
static float* v[PROMPTS][LAYERS];

static float value(unsigned a, unsigned b) {
  unsigned x = a * 2654435761u ^ (b + 0x9e3779b9u) * 40503u;
  x ^= x >> 13;
  x *= 0x5bd1e995u;
  x ^= x >> 15;
  return (float)((x & 0xffffff) / 8388608.0 - 1.0);
}

static blindsight_plan* plan_of(int p, int32_t window) {
  const blindsight_segment a[] = {{BLINDSIGHT_TEXT, 9}, {BLINDSIGHT_IMAGE, 40}, {BLINDSIGHT_TEXT, 3}, {BLINDSIGHT_IMAGE, 27}, {BLINDSIGHT_TEXT, 4}};
  const blindsight_segment b[] = {{BLINDSIGHT_IMAGE, 33}, {BLINDSIGHT_TEXT, 5}, {BLINDSIGHT_IMAGE, 20}};
  const int32_t counts[1] = {p == 0 ? 5 : 3};
  blindsight_layout* layout;
  blindsight_plan* plan;
  blindsight_plan_options o;
  ok(blindsight_layout_from_segments(p == 0 ? a : b, counts, 1, 1, &layout), "layout");
  blindsight_plan_options_init(&o);
  o.window = window;
  ok(blindsight_plan_create(layout, &o, &plan), "plan");
  blindsight_layout_destroy(layout);
  return plan;
}

static blindsight_calibrator* calibrator(void) {
  blindsight_calibrator_options o;
  blindsight_calibrator* c;
  blindsight_calibrator_options_init(&o);
  o.num_layers = LAYERS, o.num_heads = HEADS, o.num_kv_heads = KV, o.head_dim = DIM;
  ok(blindsight_calibrator_create(&o, &c), "calibrator");
  return c;
}

static blindsight_status observe(blindsight_calibrator* c, int p, int layer) {
  blindsight_observe_args a;
  blindsight_observe_args_init(&a);
  a.layer = layer, a.q = q[p][layer], a.k = k[p][layer];
  a.sample = p == 0 ? "p0" : "p1";
  return blindsight_calibrator_observe(c, plans[p], &a);
}

static char* policy_json(blindsight_calibrator* c) {
  size_t n = 0;
  char small[8];
  ok(blindsight_calibrator_policy_json(c, NULL, "toy", NULL, 0, &n), "policy length");
  expect_code(blindsight_calibrator_policy_json(c, NULL, "toy", small, sizeof small, &n), "BAD_ARGUMENT", "a buffer too small");
  char* text = malloc(n + 1);
  ok(blindsight_calibrator_policy_json(c, NULL, "toy", text, n + 1, &n), "policy json");
  return text;
}

struct job {
  blindsight_calibrator* c;
  int first;
};

static void* worker(void* arg) {
  const struct job* j = arg;
  for (int i = 0; i < PROMPTS * LAYERS; ++i) {
    const int w = (j->first + i) % (PROMPTS * LAYERS);
    if (w % 4 != j->first) continue;  /* each thread its own observations */
    if (observe(j->c, w / LAYERS, w % LAYERS) != BLINDSIGHT_OK) return (void*)1;
  }
  return NULL;
}

int main(void) {
  for (int p = 0; p < PROMPTS; ++p) {
    plans[p] = plan_of(p, 0);
    blindsight_plan_stats s;
    ok(blindsight_plan_get_stats(plans[p], &s), "stats");
    tokens[p] = s.num_tokens;
    for (int l = 0; l < LAYERS; ++l) {
      q[p][l] = malloc(sizeof(float) * tokens[p] * HEADS * DIM);
      k[p][l] = malloc(sizeof(float) * tokens[p] * KV * DIM);
      v[p][l] = malloc(sizeof(float) * tokens[p] * KV * DIM);
      for (int i = 0; i < tokens[p] * HEADS * DIM; ++i) q[p][l][i] = 2 * value(i, 100 * p + l);
      for (int i = 0; i < tokens[p] * KV * DIM; ++i) k[p][l][i] = 2 * value(i, 100 * p + l + 50), v[p][l][i] = value(i, 7 + p + l);
    }
  }

  /* Errors: each a status and a coded text, and nothing accumulated. */
  blindsight_calibrator* c = calibrator();
  uint8_t categories[LAYERS * HEADS];
  expect_code(blindsight_calibrator_policy(c, NULL, categories), "NOT_OBSERVED", "a policy before any observation");
  expect_code(observe(NULL, 0, 0), "BAD_ARGUMENT", "a null calibrator");
  expect_code(observe(c, 0, LAYERS), "BAD_ARGUMENT", "a layer out of range");
  blindsight_plan* windowed = plan_of(0, 20);
  {
    blindsight_observe_args a;
    blindsight_observe_args_init(&a);
    a.q = q[0][0], a.k = k[0][0];
    expect_code(blindsight_calibrator_observe(c, windowed, &a), "BAD_OPTION", "a plan of another base mask");
    a.v = v[0][0];
    expect_code(blindsight_calibrator_observe(c, plans[0], &a), "BAD_OPTION", "v without output errors");
    a.v = NULL, a.input_dtype = 9;
    expect_code(blindsight_calibrator_observe(c, plans[0], &a), "UNSUPPORTED_DTYPE", "an unknown dtype");
    a.input_dtype = BLINDSIGHT_F32, a.q = NULL;
    expect_code(blindsight_calibrator_observe(c, plans[0], &a), "BAD_ARGUMENT", "a null q");
  }
  float* out = malloc(sizeof(float) * tokens[0] * HEADS * DIM);
  blindsight_attention_args args;
  blindsight_attention_args_init(&args);
  args.q = q[0][0], args.k = k[0][0], args.v = v[0][0], args.out = out;
  args.num_heads = HEADS, args.num_kv_heads = KV, args.head_dim = DIM;
  args.num_heads = 2;
  expect_code(blindsight_attention_observe(plans[0], &args, c, 0), "SHAPE_MISMATCH", "a head shape not the calibrator's");
  args.num_heads = HEADS;
  const uint8_t sparse[HEADS] = {BLINDSIGHT_DENSE, BLINDSIGHT_SINK, BLINDSIGHT_DENSE, BLINDSIGHT_DENSE};
  args.heads = sparse;
  expect_code(blindsight_attention_observe(plans[0], &args, c, 0), "BAD_OPTION", "a sparse head in calibration mode");
  args.heads = NULL;
  expect_code(blindsight_attention_observe(plans[0], &args, c, -1), "BAD_ARGUMENT", "a negative layer");
  ok(observe(c, 0, 0), "one observation");
  expect_code(blindsight_calibrator_policy(c, NULL, categories), "NOT_OBSERVED", "a policy with a layer unobserved");
  blindsight_thresholds t;
  blindsight_thresholds_init(&t);
  t.tau = 2;
  ok(observe(c, 0, 1), "the other layer");
  expect_code(blindsight_calibrator_policy(c, &t, categories), "BAD_ARGUMENT", "tau out of range");
  const int32_t pins[1] = {LAYERS};
  blindsight_thresholds_init(&t);
  t.pin_layers = pins, t.num_pin_layers = 1;
  expect_code(blindsight_calibrator_policy(c, &t, categories), "BAD_ARGUMENT", "a pinned layer out of range");
  ok(blindsight_calibrator_policy(c, NULL, categories), "a policy");
  blindsight_calibrator_destroy(c);
  blindsight_calibrator_destroy(NULL);

  /* The same observations three ways. */
  blindsight_calibrator* sequential = calibrator();
  for (int p = 0; p < PROMPTS; ++p)
    for (int l = 0; l < LAYERS; ++l) ok(observe(sequential, p, l), "observe");
  blindsight_calibrator* hook = calibrator();
  for (int p = 0; p < PROMPTS; ++p) {
    float* o = malloc(sizeof(float) * tokens[p] * HEADS * DIM);
    for (int l = LAYERS - 1; l >= 0; --l) {
      blindsight_attention_args a;
      blindsight_attention_args_init(&a);
      a.q = q[p][l], a.k = k[p][l], a.v = v[p][l], a.out = o;
      a.num_heads = HEADS, a.num_kv_heads = KV, a.head_dim = DIM;
      for (int i = 0; i < tokens[p] * HEADS * DIM; ++i) o[i] = NAN;
      ok(blindsight_attention_observe(plans[p], &a, hook, l), "attention_observe");
      for (int i = 0; i < tokens[p] * HEADS * DIM; ++i)
        if (!isfinite(o[i])) {
          fprintf(stderr, "calibration mode left out[%d] unwritten\n", i);
          return 1;
        }
    }
    free(o);
  }
  blindsight_calibrator* threaded = calibrator();
  pthread_t threads[4];
  struct job jobs[4];
  for (int i = 0; i < 4; ++i) {
    jobs[i].c = threaded, jobs[i].first = 3 - i;
    pthread_create(&threads[i], NULL, worker, &jobs[i]);
  }
  for (int i = 0; i < 4; ++i) {
    void* r;
    pthread_join(threads[i], &r);
    if (r) {
      fprintf(stderr, "a concurrent observation failed\n");
      return 1;
    }
  }
  char* a = policy_json(sequential);
  char* b = policy_json(hook);
  char* d = policy_json(threaded);
  printf("ok %d checks\n%s\n%s\n%s\n", checks, a, b, d);
  free(a), free(b), free(d), free(out);
  blindsight_calibrator_destroy(sequential);
  blindsight_calibrator_destroy(hook);
  blindsight_calibrator_destroy(threaded);
  blindsight_plan_destroy(windowed);
  for (int p = 0; p < PROMPTS; ++p) {
    blindsight_plan_destroy(plans[p]);
    for (int l = 0; l < LAYERS; ++l) free(q[p][l]), free(k[p][l]), free(v[p][l]);
  }
  return 0;
}
