#!/usr/bin/env node
/**
 * The calibration benchmark (not a test: a 32K-token prompt is ~4·10^12 FLOPs per Qwen2-VL-7B layer). Default: one
 * prompt of 31 images x 1,024 tokens with text between them (32,552 tokens), a Qwen2-VL-7B-like layer (28 query /
 * 4 KV heads, head dim 128) of random bf16 Q/K. It times the plan, the attention-mass pass of one layer (median of
 * --repeats), and a whole calibrate() over --layers layers, and reports the pass's useful GFLOP/s (2·headDim per
 * visible image-query pair per head) and the process's peak resident memory next to the Q/K size, so that O(N)
 * memory shows.
 */
import { parseArgs } from 'node:util';
import { calibrate } from '../calibration/calibrate.js';
import { Layout } from '../core/layout.js';
import { attentionMass, type TensorDType } from '../calibration/mass.js';
import { MaskPlan } from '../core/plan.js';
import { cpuInfo, getThreads, setThreads } from '../attention/runtime.js';
import { memorySample } from '../calibration/samples.js';
import { fillRandom, median, promptSegments } from './workload.js';

const HELP = `usage: npm run bench:calibrate -- [options]

  --images N            images in the prompt (default 31)
  --tokens-per-image N  tokens per image (default 1024)
  --text N              text tokens between images (default 24)
  --leading-text N      text tokens before the first image (default 64)
  --heads N             query heads (default 28)
  --kv-heads N          KV heads (default 4)
  --head-dim N          head dim (default 128)
  --dtype f32|f16|bf16  element type of Q and K (default bf16)
  --layers N            layers in the whole-calibration run (default 1; 0 skips it)
  --repeats N           timed runs of the one-layer pass; the median is reported (default 1)
  --threads N           threads (default: all cores)
  -h, --help            this text`;

function int(v: string | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`--${name} must be a non-negative integer, got ${v}`);
  return n;
}

function toHalf(src: Float32Array, dtype: 'f16' | 'bf16'): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  if (dtype === 'bf16') {
    for (let i = 0; i < src.length; i++) out[i] = (bits[i] + 0x7fff + ((bits[i] >>> 16) & 1)) >>> 16;
  } else {
    // Inputs are in [-1, 1): normal f16 range down to 2^-14; smaller magnitudes flush to zero (fine for a benchmark).
    for (let i = 0; i < src.length; i++) {
      const b = bits[i], sign = (b >>> 16) & 0x8000, e = ((b >>> 23) & 0xff) - 127 + 15;
      out[i] = e <= 0 ? sign : sign | (e << 10) | ((b >>> 13) & 0x3ff);
    }
  }
  return out;
}

/** Random values in [-1, 1) of the given type, generated in chunks so no f32 copy of a half tensor is ever held. */
function randomTensor(n: number, seed: number, dtype: TensorDType): Float32Array | Uint16Array {
  if (dtype === 'f32') return fillRandom(new Float32Array(n), seed);
  const out = new Uint16Array(n);
  const chunk = new Float32Array(1 << 20);
  for (let at = 0, i = 0; at < n; at += chunk.length, i++) {
    const part = chunk.subarray(0, Math.min(chunk.length, n - at));
    out.set(toHalf(fillRandom(part, seed * 7919 + i), dtype), at);
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      images: { type: 'string' }, 'tokens-per-image': { type: 'string' }, text: { type: 'string' }, 'leading-text': { type: 'string' },
      heads: { type: 'string' }, 'kv-heads': { type: 'string' }, 'head-dim': { type: 'string' }, dtype: { type: 'string' },
      layers: { type: 'string' }, repeats: { type: 'string' }, threads: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const segments = promptSegments({
    images: int(values.images, 31, 'images'),
    tokensPerImage: int(values['tokens-per-image'], 1024, 'tokens-per-image'),
    textBetween: int(values.text, 24, 'text'),
    leadingText: int(values['leading-text'], 64, 'leading-text'),
  });
  const H = int(values.heads, 28, 'heads'), KV = int(values['kv-heads'], 4, 'kv-heads'), D = int(values['head-dim'], 128, 'head-dim');
  const dtype = (values.dtype ?? 'bf16') as TensorDType;
  if (!['f32', 'f16', 'bf16'].includes(dtype)) throw new RangeError('--dtype must be f32, f16 or bf16');
  const layers = int(values.layers, 1, 'layers');
  const repeats = Math.max(1, int(values.repeats, 1, 'repeats'));
  const threads = int(values.threads, 0, 'threads');
  if (threads > 0) setThreads(threads);
  const info = cpuInfo();

  const layout = Layout.fromSegments(segments);
  const N = layout.numTokens;
  let t0 = performance.now();
  const plan = MaskPlan.build(layout);
  const planMs = performance.now() - t0;
  const q = randomTensor(N * H * D, 1, dtype);
  const k = randomTensor(N * KV * D, 2, dtype);
  const qkBytes = q.byteLength + k.byteLength;
  // Useful work: every image query against its causal row (text rows are not measured).
  let pairs = 0;
  for (let t = 0; t < N; t++) if (layout.imageIds[t] >= 0) pairs += t + 1;
  const flops = 2 * D * pairs * H;

  console.log(`blindsight calibration bench: ${N} tokens (${layout.numImages} images), ${H} query / ${KV} KV heads, dim ${D}, ${dtype}`);
  console.log(`CPU ${info.defaultIsa} (available: ${info.isas.join(', ')}), ${getThreads()} threads; plan built in ${planMs.toFixed(2)} ms`);
  const times: number[] = [];
  let imageQueries = 0;
  for (let r = 0; r < repeats; r++) {
    t0 = performance.now();
    const res = await attentionMass({ q, k, dtype, plan, numHeads: H, numKvHeads: KV, headDim: D });
    times.push(performance.now() - t0);
    imageQueries = res.imageQueries;
    const worst = Math.max(...Array.from({ length: H }, (_, h) => Math.abs(res.mean.subarray(h * 7, h * 7 + 7).reduce((a, b) => a + b, 0) - 1)));
    if (worst > 1e-6) throw new Error(`mass fractions do not sum to 1 (off by ${worst})`);
  }
  const ms = median(times);
  console.log(`attention-mass pass, one layer: ${(ms / 1000).toFixed(2)} s (median of ${repeats}; ${imageQueries} image queries x ${H} heads), ` +
    `${(flops / ms / 1e6).toFixed(1)} useful GFLOP/s`);
  if (layers > 0) {
    const sample = memorySample({ name: 'bench', layout, layers: Array.from({ length: layers }, () => ({ q, k })), numHeads: H, numKvHeads: KV, headDim: D, dtype });
    t0 = performance.now();
    const policy = await calibrate([sample]);
    const s = (performance.now() - t0) / 1000;
    const c = policy.counts();
    console.log(`calibrate(), ${layers} layer(s): ${s.toFixed(2)} s (${(s / layers).toFixed(2)} s per layer); random Q/K give ` +
      `${Object.entries(c).map(([k2, v]) => `${k2} ${v}`).join(', ')}`);
  }
  const rss = process.resourceUsage().maxRSS * 1024;
  console.log(`peak RSS ${(rss / 2 ** 20).toFixed(0)} MiB; Q+K of one layer ${(qkBytes / 2 ** 20).toFixed(0)} MiB ` +
    `(an N x N f32 score matrix for one head would be ${((N * N * 4) / 2 ** 30).toFixed(1)} GiB)`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
