// Wiring blindsight into a JS runtime's attention step: one PromptAttention per prompt, one forward per layer.
//   node examples/node/hook.mjs
import { HeadPolicy, Layout, PromptAttention } from 'blindsight';

// The prompt's structure, from the tokenizer (or Layout.fromTokenIds(ids, 'qwen2-vl')): text, two images, a question.
const layout = Layout.fromSegments([
  { kind: 'text', length: 24 },
  { kind: 'image', length: 256 },
  { kind: 'image', length: 256 },
  { kind: 'text', length: 16 },
]);

// The model's head policy: normally `await HeadPolicy.load('model.policy.json')`; here 4 layers of 8 heads.
const [numLayers, numHeads, numKvHeads, headDim] = [4, 8, 2, 64];
const categories = ['dense', 'sink', 'intra-image', 'intra-image+sink'];
const policy = new HeadPolicy(
  Array.from({ length: numLayers }, (_, l) => Array.from({ length: numHeads }, (_, h) => categories[(l + h) % 4])),
);

// Once per prompt: plans the mask for every layer.
const hook = PromptAttention.create(layout, policy, { numHeads, numKvHeads, headDim });

// The runtime's layer loop. Its projections give token-major q [N, numHeads, headDim], k and v [N, numKvHeads, headDim].
const n = layout.numTokens;
let seed = 1;
const projection = (size) => Float32Array.from({ length: size }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 30) - 1);
for (let i = 0; i < numLayers; i++) {
  const q = projection(n * numHeads * headDim);
  const k = projection(n * numKvHeads * headDim);
  const v = projection(n * numKvHeads * headDim);
  const { out } = await hook.layer(i).forward(q, k, v); // in place of the runtime's own attention call
  // ... out [N, numHeads, headDim] goes on to the layer's output projection
}

const s = hook.summary();
console.log(`${s.calls} layers, ${n} tokens: kept ${(100 * s.keptRatio).toFixed(2)} % of dense attention FLOPs, ` +
  `saved ${(s.savedFlops / 1e9).toFixed(3)} GFLOP`);
