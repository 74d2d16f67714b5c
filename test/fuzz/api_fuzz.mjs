#!/usr/bin/env node
/**
 * A fuzzer of the public JS API: random and malformed calls of Layout, MaskPlan, attention / attentionSync,
 * PromptAttention, HeadPolicy, the attention-mass pass and the streaming Calibrator, with wrong types, lengths, element types, options,
 * aliasing, NaN and infinities. What it asserts:
 *  - every failure is a BlindsightError, TypeError or RangeError carrying a code of the registry (no plain Error, no
 *    crash);
 *  - a call that succeeds on finite inputs returns finite outputs of the right length.
 *   node test/fuzz/api_fuzz.mjs [--seconds S] [--iterations N] [--seed X]   (prints "ok N calls, K errors by code")
 */
import { parseArgs } from 'node:util';
import * as bs from '../../dist/index.js';
import { attentionMassSync, Calibrator } from '../../dist/calibration/index.js';
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
// KvPacks shared by the calls (their kept rows mostly stale for the next call's random k / v), reset and disposed now
// and then.
const packs = [new bs.KvPack(), new bs.KvPack()];
let disposed = new bs.KvPack();
disposed.dispose();
const kvPack = () => {
  if (chance(0.02)) pick(packs).reset();
  if (chance(0.01)) packs.push(new bs.KvPack()), (disposed = packs.shift()).dispose();
  return chance(0.85) ? undefined : chance(0.9) ? pick(packs) : chance(0.5) ? disposed : junk();
};
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
let calls = 0, observed = 0;
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
  const options = chance(0.8) ? { blockM: pick([8, 16, 64, 128, 256]), blockN: pick([8, 32, 64, 256]), window: pick([null, undefined, 1 + int(100)]), windowKeepsSinks: pick([undefined, true, false]), textKeys: chance(0.5), bidirectionalImages: chance(0.3), exhaustive: chance(0.1) } : { blockM: junk(), window: junk(), textKeys: junk(), windowKeepsSinks: junk() };
  const plan = check(() => bs.MaskPlan.build(layout, options));
  if (!plan) continue;
  check(() => plan.stats(Array.from({ length: 1 + int(4) }, () => pick(CATS))));
  if (chance(0.2)) {
    const n = layout.numTokens, a = int(n + 2), b = int(n + 2);
    check(() => plan.rangeStats(pick(CATS), chance(0.9) ? [Math.min(a, b), Math.max(a, b)] : junk(), [0, Math.min(n, b)]));
  }
  const numKvHeads = num(), group = pick([1, 2, 3]), numHeads = typeof numKvHeads === 'number' ? numKvHeads * group : num();
  const headDim = chance(0.9) ? pick([8, 16, 24, 64, 72]) : junk();
  const dtype = chance(0.9) ? pick([undefined, 'f32', 'f16', 'bf16']) : junk();
  const finite = chance(0.7);
  const n = layout.numTokens;
  const H = typeof numHeads === 'number' && numHeads > 0 && numHeads < 65 ? numHeads : 1, KV = typeof numKvHeads === 'number' && numKvHeads > 0 && numKvHeads < 65 ? numKvHeads : 1;
  const D = typeof headDim === 'number' && headDim > 0 && headDim <= 512 ? headDim : 8;
  if (n * H * D > 2e6) continue;
  // Query / key ranges: mostly valid (one pair, or one per sequence), sometimes hostile; tensors sized for them.
  const pair = () => { const a = int(n + 1), b = int(n + 1); return chance(0.9) ? [Math.min(a, b), Math.max(a, b)] : [b, a + pick([0, 1, -1])]; };
  const perSeq = () => Array.from({ length: layout.numSequences + (chance(0.05) ? 1 : 0) }, (_, s) => {
    const s0 = layout.cuSeqlens[s] ?? 0, s1 = layout.cuSeqlens[s + 1] ?? n, a = s0 + int(s1 - s0 + 1), b = s0 + int(s1 - s0 + 1);
    return chance(0.95) ? [Math.min(a, b), Math.max(a, b)] : [a, b + 3];
  });
  const ranges = () => (chance(0.6) ? undefined : chance(0.5) ? pair() : chance(0.9) ? perSeq() : junk());
  const queries = ranges(), keys = ranges();
  const rowsOf = (r) => {
    if (!Array.isArray(r)) return n;
    if (r.length === 2 && typeof r[0] === 'number') { let t = 0; for (let s = 0; s < layout.numSequences; s++) t += Math.max(0, Math.min(r[1], layout.cuSeqlens[s + 1]) - Math.max(r[0], layout.cuSeqlens[s])); return t; }
    return r.reduce((t, x) => t + (Array.isArray(x) ? Math.max(0, x[1] - x[0]) : 0), 0);
  };
  const qRows = rowsOf(queries), kRows = rowsOf(keys);
  const strides = chance(0.85) ? undefined : { k: pick([{ token: D, head: kRows * D }, { token: KV * D + 8, head: D }, { token: -1, head: D }, { token: D, head: D }, junk()]) };
  const kLen = strides?.k?.token === KV * D + 8 ? kRows * (KV * D + 8) : kRows * KV * D;
  const q = tensor(qRows * H * D, dtype, finite), k = tensor(kLen, dtype, finite), v = tensor(kRows * KV * D, dtype, finite);
  const heads = chance(0.95) ? Array.from({ length: chance(0.95) ? H : H + 1 }, () => (chance(0.97) ? pick(bs.HEAD_CATEGORIES) : pick(CATS))) : junk();
  const args = {
    q, k, v, plan, heads, numHeads, numKvHeads, headDim, dtype,
    outDtype: chance(0.9) ? pick([undefined, 'f32', 'f16', 'bf16']) : junk(),
    scale: chance(0.8) ? undefined : pick([0, -0.5, 0.125, 3e38, 1e39, NaN, 'x']),
    returnLse: chance(0.3) ? true : chance(0.05) ? junk() : undefined,
    threads: chance(0.9) ? pick([undefined, 1, 2]) : junk(),
    isa: chance(0.9) ? pick([undefined, ...bs.cpuInfo().isas]) : pick(['avx9', 'neon', junk()]),
    backend: chance(0.95) ? pick([undefined, 'cpu', 'auto']) : pick(['cuda', 'gpu', junk()]),
    out: chance(0.15) ? (chance(0.3) ? q : tensor(qRows * H * D, 'f32', true)) : undefined,
    queries, keys, strides: strides && { ...strides, v: strides.k },
    kvPack: kvPack(),
  };
  // A row that sees none of a key range's keys is 0 / -inf: finite outputs still (only lse is not).
  const wantFinite = finite && args.scale === undefined && (args.outDtype === undefined || args.outDtype === 'f32') && (dtype === undefined || dtype === 'f32');
  if (chance(0.5)) {
    const r = check(() => bs.attentionSync({ ...args, returnLse: keys !== undefined || args.returnLse }), wantFinite ? (r) => expectFinite(r, qRows * H * D) : undefined);
    if (r?.lse && chance(0.5)) check(() => bs.mergeAttention({ partials: chance(0.8) ? [r, r] : [r, { out: r.out, lse: junk() }], numHeads, headDim, outDtype: args.outDtype, dtype: args.outDtype }));
  }
  else {
    calls++;
    try {
      pending.push(bs.attention(args).then(
        (r) => { if (wantFinite) expectFinite(r, qRows * H * D); },
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
      if (hook) check(() => hook.layer(int(4)).forwardSync(q, k, v, { queries, keys }));
      if (hook && chance(0.5)) check(() => hook.microBatches(pick([1, 7, 64, 0, junk()])));
    }
  }
  if (chance(0.08)) {
    // The streaming calibrator: hostile options and observations (shapes, layers, plans of other base masks, values
    // for output errors, strides), sync and async; a calibrator must stay usable after any rejected observation.
    const numLayers = 1 + int(3), outputError = chance(0.3);
    const cal = check(() => new Calibrator(chance(0.9)
      ? { numLayers, numHeads, numKvHeads, headDim, textKeys: chance(0.9) ? options.textKeys : junk(), bidirectionalImages: chance(0.9) ? options.bidirectionalImages : junk(),
          window: chance(0.9) ? options.window : junk(), outputError, mass: chance(0.9) ? undefined : chance(0.5), scale: chance(0.9) ? undefined : pick([0, -1, 3e38, NaN, 'x']) }
      : { numLayers: junk(), numHeads: junk(), numKvHeads, headDim: junk() }));
    if (cal) {
      // Observations take the whole prompt: tensors of every token, mostly finite.
      const whole = chance(0.9) && queries === undefined && keys === undefined;
      const cq = whole ? q : tensor(n * H * D, dtype, chance(0.8)), ck = whole ? k : tensor(n * KV * D, dtype, chance(0.8)), cv = tensor(n * KV * D, dtype, chance(0.8));
      const obs = () => ({
        layer: chance(0.95) ? int(numLayers) : pick([numLayers, -1, junk()]), plan: chance(0.95) ? plan : junk(), q: cq, k: ck, dtype,
        v: outputError ? (chance(0.9) ? cv : undefined) : chance(0.05) ? cv : undefined,
        strides: chance(0.95) ? undefined : { k: pick([{ token: D, head: n * D }, junk()]) },
        scale: chance(0.9) ? undefined : pick([0.125, -1, NaN]), sample: chance(0.9) ? undefined : junk(), isa: args.isa,
      });
      for (let i = 0; i < 1 + int(3); i++) if (check(() => (cal.observeSync(obs()), true))) observed++;
      if (chance(0.5)) {
        calls++;
        pending.push(cal.observe(obs()).then(() => { observed++; }, (e) => { check(() => { throw e; }); }));
      }
      await Promise.all(pending.splice(0));
      check(() => cal.policy(chance(0.9) ? { tau: pick([undefined, 0, 0.5, 0.95, 1]) } : { tau: junk() }));
      if (chance(0.5)) check(() => cal.stats());
      if (chance(0.3)) check(() => cal.outputErrors());
      cal.dispose();
    }
  }
  if (chance(0.02)) plan.dispose();
  if (pending.length > 8) await Promise.all(pending.splice(0));
}
await Promise.all(pending);
console.log(`ok ${calls} calls (${observed} calibrator observations taken), errors by code: ${[...counts].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ')}`);
