// A worker thread starts asynchronous attention and attention-mass calls, then is terminated (or calls
// process.exit() itself) while they are pending. The main thread must live on and exit normally.
import { Worker } from 'node:worker_threads';

const mode = process.argv[2]; // 'terminate' | 'exit'
const body = `
  import { parentPort } from 'node:worker_threads';
  const { attention, Layout, MaskPlan } = await import(${JSON.stringify(new URL('../../../dist/index.js', import.meta.url).href)});
  const { attentionMass } = await import(${JSON.stringify(new URL('../../../dist/calibration/index.js', import.meta.url).href)});
  const layout = Layout.fromSegments([{ kind: 'text', length: 500 }, { kind: 'image', length: 1500 }]);
  const plan = MaskPlan.build(layout);
  const n = layout.numTokens, H = 8, KV = 2, D = 64;
  const q = new Float32Array(n * H * D).fill(0.1), k = new Float32Array(n * KV * D).fill(0.2), v = new Float32Array(n * KV * D).fill(0.3);
  for (let i = 0; i < 4; i++) attention({ q, k, v, plan, heads: Array(H).fill('dense'), numHeads: H, numKvHeads: KV, headDim: D }).catch(() => {});
  attentionMass({ q, k, plan, numHeads: H, numKvHeads: KV, headDim: D, perToken: true }).catch(() => {});
  parentPort.postMessage('started');
  if (${JSON.stringify(mode)} === 'exit') setTimeout(() => process.exit(3), 5);
`;
for (let i = 0; i < 3; i++) {
  const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(body)}`));
  await new Promise((resolve, reject) => {
    w.once('message', () => {
      if (mode === 'terminate') setTimeout(() => w.terminate(), 5);
    });
    w.once('exit', resolve);
    w.once('error', reject);
  });
}
console.log(`main thread alive after ${mode}`);
