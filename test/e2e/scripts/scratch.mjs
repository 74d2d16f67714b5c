// Peak memory of attention calls on interleaved text/image prompts (50 text + 200 image tokens, repeated) of growing
// length, with tiny heads so that the inputs and outputs are small: what grows is the call's own scratch. Prints
// "tokens peakMiB" per length, after the call. --exhaustive: verification plans (every block from the sequence start).
import { attentionSync, Layout, MaskPlan } from '../../../dist/index.js';

const H = 4, KV = 1, D = 8;
const exhaustive = process.argv.includes('--exhaustive');
for (const n of process.argv.slice(2).filter((a) => !a.startsWith('--')).map(Number)) {
  const segs = [];
  for (let t = 0; t < n; t += 250) segs.push({ kind: 'text', length: 50 }, { kind: 'image', length: 200 });
  const layout = Layout.fromSegments(segs);
  const plan = MaskPlan.build(layout, { exhaustive });
  const N = layout.numTokens;
  const q = new Float32Array(N * H * D).fill(0.01), kv = new Float32Array(N * KV * D).fill(0.02);
  attentionSync({ q, k: kv, v: kv, plan, heads: ['dense', 'sink', 'intra-image', 'intra-image+sink'], numHeads: H, numKvHeads: KV, headDim: D, threads: 1 });
  console.log(`${N} ${(process.resourceUsage().maxRSS / 1024).toFixed(1)}`);
}
