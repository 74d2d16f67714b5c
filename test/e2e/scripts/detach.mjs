// Runs asynchronous attention calls and, while they run, detaches or resizes the ArrayBuffers behind their tensors
// in every way JS can. The process must finish normally: each call either resolves with a correct result or rejects
// with a coded error (DETACHED_BUFFER for an output detached meanwhile).
import { attention, attentionSync, Layout, MaskPlan } from '../../../dist/index.js';

const layout = Layout.fromSegments([{ kind: 'text', length: 300 }, { kind: 'image', length: 900 }, { kind: 'text', length: 300 }]);
const plan = MaskPlan.build(layout);
const H = 8, KV = 2, D = 64, n = layout.numTokens;
const fill = (a, seed) => { let x = seed; for (let i = 0; i < a.length; i++) { x = (x * 1103515245 + 12345) >>> 0; a[i] = (x / 2 ** 32) - 0.5; } return a; };
const make = (len, seed, opts) => fill(new Float32Array(opts ? new ArrayBuffer(len * 4, opts) : new ArrayBuffer(len * 4)), seed);
const detach = (ab) => structuredClone(ab, { transfer: [ab] });
const heads = Array(H).fill('dense');
let outcomes = [];

async function trial(name, setup, act) {
  const t = setup();
  const expected = attentionSync({ q: t.q.slice(), k: t.k.slice(), v: t.v.slice(), plan, heads, numHeads: H, numKvHeads: KV, headDim: D }).out;
  const p = attention({ ...t, plan, heads, numHeads: H, numKvHeads: KV, headDim: D });
  act(t);
  try {
    const r = await p;
    let maxDiff = 0;
    for (let i = 0; i < expected.length; i += 7) maxDiff = Math.max(maxDiff, Math.abs(r.out[i] - expected[i]));
    outcomes.push(`${name}: resolved, max|diff| ${maxDiff < 1e-6 ? 'ok' : maxDiff}`);
  } catch (e) {
    outcomes.push(`${name}: rejected ${e.code}`);
  }
  // GC pressure: the transferred memory's new owners are dropped and collected while calls run.
  globalThis.gc?.();
}

for (let round = 0; round < 3; round++) {
  await trial('detach q', () => ({ q: make(n * H * D, 1), k: make(n * KV * D, 2), v: make(n * KV * D, 3) }), (t) => detach(t.q.buffer));
  await trial('detach k and v', () => ({ q: make(n * H * D, 1), k: make(n * KV * D, 2), v: make(n * KV * D, 3) }), (t) => { detach(t.k.buffer); detach(t.v.buffer); });
  await trial('detach out', () => ({ q: make(n * H * D, 1), k: make(n * KV * D, 2), v: make(n * KV * D, 3), out: make(n * H * D, 4) }), (t) => detach(t.out.buffer));
  await trial('shrink resizable q and out', () => ({ q: make(n * H * D, 1, { maxByteLength: n * H * D * 8 }), k: make(n * KV * D, 2), v: make(n * KV * D, 3), out: make(n * H * D, 4, { maxByteLength: n * H * D * 8 }) }), (t) => { t.q.buffer.resize(16); t.out.buffer.resize(16); });
  await trial('shared buffers', () => {
    const sab = (len, seed) => fill(new Float32Array(new SharedArrayBuffer(len * 4)), seed);
    return { q: sab(n * H * D, 1), k: sab(n * KV * D, 2), v: sab(n * KV * D, 3), out: sab(n * H * D, 4) };
  }, () => {});
}
console.log(outcomes.join('\n'));
