#!/usr/bin/env node
/**
 * A fuzzer of the public JS API: random and malformed calls of Layout, MaskPlan, attention / attentionSync,
 * PromptAttention, HeadPolicy and the attention-mass pass, with wrong types, lengths, element types, options,
 * aliasing, NaN and infinities. What it asserts:
 *  - every failure is a BlindsightError, TypeError or RangeError carrying a code of the registry (no plain Error, no
 *    crash);
 *  - a call that succeeds on finite inputs returns finite outputs of the right length.
 *   node test/fuzz/api_fuzz.mjs [--seconds S] [--iterations N] [--seed X]   (prints "ok N calls, K errors by code")
 */
import { parseArgs } from 'node:util';
import * as bs from '../../dist/index.js';
import { attentionMassSync } from '../../dist/calibration/index.js';
import { ERROR_CODES } from '../../dist/core/error_codes.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, iterations: { type: 'string', default: '1000000' }, seed: { type: 'string', default: '1' } } });
let seed = Number(values.seed) >>> 0 || 1;
const rnd = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
const int = (n) => Math.floor(rnd() * n);
const pick = (xs) => xs[int(xs.length)];
const chance = (p) => rnd() < p;

const CATS = [...bs.HEAD_CATEGORIES, 'dense ', 'bogus', undefined, null, 3, ''];
const junk = () => pick([undefined, null, NaN, -1, 0, 1.5, 2 ** 40, 'x', {}, [], () => 0, Symbol('s'), 10n, true]);
const num = () => (chance(0.85) ? pick([1, 2, 4, 7, 8, 16, 64]) : junk());
const value = () => (chance(0.97) ? rnd() * 4 - 2 : pick([NaN, Infinity, -Infinity, 3e38, 1e-40]));

function segments() {
  if (chance(0.05)) return junk();
  const seqs = Array.from({ length: 1 + int(3) }, () =>
    Array.from({ length: 1 + int(5) }, () => (chance(0.97) ? { kind: pick(['text', 'image']), length: 1 + int(chance(0.2) ? 300 : 40) } : { kind: pick(['text', 'image', 'video', 1]), length: pick([0, -1, 1.5, '3', 2 ** 31]) })),
  );
  return chance(0.5) ? seqs[0] : seqs;
}

function tensor(len, dtype, finite) {
  if (chance(0.03)) return junk();
  const n = chance(0.95) ? len : Math.max(0, len + pick([-1, 1, 64]));
  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) f[i] = finite ? rnd() * 4 - 2 : value();
  if (dtype === 'f32' || dtype === undefined) return chance(0.03) ? bs.toDType(f, 'bf16') : chance(0.1) ? shared(f) : f;
  return bs.toDType(f, dtype === 'f16' || dtype === 'bf16' ? dtype : 'bf16');
}
function shared(f) {
  const s = new Float32Array(new SharedArrayBuffer(f.byteLength));
  s.set(f);
  return s;
}

const counts = new Map();
let calls = 0;
function check(fn, expectOut) {
  calls++;
  try {
    const r = fn();
    if (expectOut) expectOut(r);
    return r;
  } catch (e) {
    const okClass = e instanceof bs.BlindsightError || e instanceof TypeError || e instanceof RangeError;
    const code = e?.code;
    if (!okClass || typeof code !== 'string' || !(code in ERROR_CODES)) {
      console.error('FINDING: an uncoded or unexpected error', e);
      process.exit(1);
    }
    counts.set(code, (counts.get(code) ?? 0) + 1);
    return undefined;
  }
}
function expectFinite(r, len) {
  if (!r || !r.out || r.out.length !== len) {
    console.error('FINDING: a result of the wrong shape', r && r.out && r.out.length, len);
    process.exit(1);
  }
  for (let i = 0; i < r.out.length; i++) if (!Number.isFinite(r.out[i])) { console.error('FINDING: a non-finite output from finite inputs'); process.exit(1); }
}

const deadline = Date.now() + Number(values.seconds) * 1000;
const pending = [];
for (let it = 0; it < Number(values.iterations) && Date.now() < deadline; it++) {
  const layout = check(() => (chance(0.1) ? bs.Layout.fromTokenIds(Array.from({ length: 1 + int(50) }, () => pick([1, 2, 151652, 151653, 151655])), pick(['qwen2-vl', 'gemma3', 'constructor', '__proto__', { imageStart: 1, imageEnd: 2 }, junk()])) : bs.Layout.fromSegments(segments(), chance(0.1) ? { globalSinks: junk() } : { globalSinks: int(3) })));
  if (!layout) continue;
  const options = chance(0.8) ? { blockM: pick([8, 16, 64, 128, 256]), blockN: pick([8, 32, 64, 256]), window: pick([null, undefined, 1 + int(100)]), textKeys: chance(0.5), bidirectionalImages: chance(0.3), exhaustive: chance(0.1) } : { blockM: junk(), window: junk(), textKeys: junk() };
  const plan = check(() => bs.MaskPlan.build(layout, options));
  if (!plan) continue;
  check(() => plan.stats(Array.from({ length: 1 + int(4) }, () => pick(CATS))));
  const numKvHeads = num(), group = pick([1, 2, 3]), numHeads = typeof numKvHeads === 'number' ? numKvHeads * group : num();
  const headDim = chance(0.9) ? pick([8, 16, 24, 64, 72]) : junk();
  const dtype = chance(0.9) ? pick([undefined, 'f32', 'f16', 'bf16']) : junk();
  const finite = chance(0.7);
  const n = layout.numTokens;
  const H = typeof numHeads === 'number' && numHeads > 0 && numHeads < 65 ? numHeads : 1, KV = typeof numKvHeads === 'number' && numKvHeads > 0 && numKvHeads < 65 ? numKvHeads : 1;
  const D = typeof headDim === 'number' && headDim > 0 && headDim <= 512 ? headDim : 8;
  if (n * H * D > 2e6) continue;
  const q = tensor(n * H * D, dtype, finite), k = tensor(n * KV * D, dtype, finite), v = tensor(n * KV * D, dtype, finite);
  const heads = chance(0.95) ? Array.from({ length: chance(0.95) ? H : H + 1 }, () => (chance(0.97) ? pick(bs.HEAD_CATEGORIES) : pick(CATS))) : junk();
  const args = {
    q, k, v, plan, heads, numHeads, numKvHeads, headDim, dtype,
    outDtype: chance(0.9) ? pick([undefined, 'f32', 'f16', 'bf16']) : junk(),
    scale: chance(0.8) ? undefined : pick([0, -0.5, 0.125, 3e38, 1e39, NaN, 'x']),
    returnLse: chance(0.3) ? true : chance(0.05) ? junk() : undefined,
    threads: chance(0.9) ? pick([undefined, 1, 2]) : junk(),
    isa: chance(0.9) ? pick([undefined, ...bs.cpuInfo().isas]) : pick(['avx9', 'neon', junk()]),
    backend: chance(0.95) ? pick([undefined, 'cpu', 'auto']) : pick(['cuda', 'gpu', junk()]),
    out: chance(0.15) ? (chance(0.3) ? q : tensor(n * H * D, 'f32', true)) : undefined,
  };
  const wantFinite = finite && args.scale === undefined && (args.outDtype === undefined || args.outDtype === 'f32') && (dtype === undefined || dtype === 'f32');
  if (chance(0.5)) check(() => bs.attentionSync(args), wantFinite ? (r) => expectFinite(r, n * H * D) : undefined);
  else {
    calls++;
    try {
      pending.push(bs.attention(args).then(
        (r) => { if (wantFinite) expectFinite(r, n * H * D); },
        (e) => { check(() => { throw e; }); },
      ));
    } catch (e) {
      check(() => { throw e; });
    }
  }
  if (chance(0.05)) check(() => attentionMassSync({ q, k, plan, numHeads, numKvHeads, headDim, dtype, perToken: chance(0.3) ? true : undefined, isa: args.isa }));
  if (chance(0.05)) {
    const policy = check(() => bs.HeadPolicy.uniform(1 + int(3), H, pick(CATS)));
    if (policy) {
      const hook = check(() => bs.PromptAttention.create(chance(0.5) ? layout : plan, policy, { numHeads, numKvHeads, headDim, ...(chance(0.5) ? options : {}) }));
      if (hook) check(() => hook.layer(int(4)).forwardSync(q, k, v));
    }
  }
  if (chance(0.02)) plan.dispose();
  if (pending.length > 8) await Promise.all(pending.splice(0));
}
await Promise.all(pending);
console.log(`ok ${calls} calls, errors by code: ${[...counts].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ')}`);
