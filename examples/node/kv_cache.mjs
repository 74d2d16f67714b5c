// Attention the way runtimes call it: a prompt prefilled in micro-batches against a growing KV cache (llama.cpp's
// n_ubatch loop), and one ring-attention step over two KV shards merged by their log-sum-exp. Both give the rows of one
// whole-prompt call; the script prints how far apart they are.
//   node examples/node/kv_cache.mjs
import { HeadPolicy, Layout, PromptAttention, attentionSync, mergeAttention } from 'blindsight';

const layout = Layout.fromSegments([
  { kind: 'text', length: 40 },
  { kind: 'image', length: 300 },
  { kind: 'text', length: 8 },
  { kind: 'image', length: 300 },
  { kind: 'text', length: 20 },
]);
const [numHeads, numKvHeads, headDim] = [8, 2, 64];
const categories = ['dense', 'sink', 'intra-image', 'intra-image+sink'];
const policy = new HeadPolicy([Array.from({ length: numHeads }, (_, h) => categories[h % 4])]);
const hook = PromptAttention.create(layout, policy, { numHeads, numKvHeads, headDim });
const n = layout.numTokens;
let seed = 7;
const projection = (size) => Float32Array.from({ length: size }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 30) - 1);
const q = projection(n * numHeads * headDim);
const k = projection(n * numKvHeads * headDim);
const v = projection(n * numKvHeads * headDim);
const whole = hook.layer(0).forwardSync(q, k, v).out;

// The runtime's KV cache, head-major [kv head][capacity][headDim] as llama.cpp views it, read in place through strides.
const capacity = 1024;
const kCache = new Float32Array(numKvHeads * capacity * headDim);
const vCache = new Float32Array(numKvHeads * capacity * headDim);
const cache = { token: headDim, head: capacity * headDim };
const out = new Float32Array(n * numHeads * headDim);
const rows = (x, width, b, e) => x.subarray(b * width, e * width);
for (const { queries: [b, e] } of hook.microBatches(128)) {
  for (let t = b; t < e; t++) // append the micro-batch's keys and values
    for (let g = 0; g < numKvHeads; g++) {
      kCache.set(rows(k, headDim, t * numKvHeads + g, t * numKvHeads + g + 1), (g * capacity + t) * headDim);
      vCache.set(rows(v, headDim, t * numKvHeads + g, t * numKvHeads + g + 1), (g * capacity + t) * headDim);
    }
  // The micro-batch's queries against every key cached so far (the hook's default keys for a micro-batch).
  hook.layer(0).forwardSync(rows(q, numHeads * headDim, b, e), kCache, vCache, {
    queries: [b, e],
    strides: { k: cache, v: cache },
    out: rows(out, numHeads * headDim, b, e),
  });
}

// A ring step: each device holds one KV shard and computes a partial result for every query; merging them by their
// lse gives the whole. The shards' results need returnLse.
const split = 360;
const shard = (begin, end) =>
  attentionSync({
    q, k: rows(k, numKvHeads * headDim, begin, end), v: rows(v, numKvHeads * headDim, begin, end), keys: [begin, end],
    plan: hook.plan, heads: policy.layer(0), numHeads, numKvHeads, headDim, returnLse: true,
  });
const merged = mergeAttention({ partials: [shard(0, split), shard(split, n)], numHeads, headDim }).out;

const maxDiff = (a, b) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
// Which (query shard, key shard) steps a head can skip: the later shard's keys for the earlier shard's queries.
const skip = hook.plan.rangeStats('sink', [0, split], [split, n]).empty;
console.log(`${n} tokens: micro-batches ${maxDiff(out, whole).toExponential(1)}, ring step ${maxDiff(merged, whole).toExponential(1)}, ` +
  `future shard skipped: ${skip}`);
