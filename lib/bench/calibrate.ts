#!/usr/bin/env node
/**
 * The calibration benchmark (not a test: a 32K-token prompt is ~4·10^12 FLOPs per Qwen2-VL-7B layer). For each prompt
 * size (default 8K and 32K tokens: 8 and 31 images x 1,024 tokens, text between them) and a Qwen2-VL-7B-like layer
 * (28 query / 4 KV heads, head dim 128, random Q/K/V), it times, on the same layer, the dense attention a model runs
 * (every head dense) and the attention-mass pass calibration runs, on every ISA level this CPU has and for each element
 * type, in interleaved rounds (median of --repeats), and prints their ratio: what observing a layer costs next to
 * computing it. Optionally (--calibrate-layers) a whole calibrate() over that many layers of the first size, and the
 * process's peak resident memory next to the Q/K size, so that O(N) memory shows.
 */
import { parseArgs } from 'node:util';
import { attentionSync } from '../attention/attention.js';
import { cpuInfo, getThreads, setThreads } from '../attention/runtime.js';
import type { CpuIsa } from '../attention/args.js';
import { calibrate } from '../calibration/calibrate.js';
import { attentionMassSync, type TensorDType } from '../calibration/mass.js';
import { memorySample } from '../calibration/samples.js';
import type { HeadCategory } from '../core/categories.js';
import { Layout } from '../core/layout.js';
import { MaskPlan } from '../core/plan.js';
import { fillRandom, median, promptSegments, timeRounds } from './workload.js';

const HELP = `usage: npm run bench:calibrate -- [options]

  --sizes LIST          prompt sizes as image counts or token counts (8K = 8 images, 32K = 31 images of
                        --tokens-per-image tokens; default 8K,32K)
  --tokens-per-image N  tokens per image (default 1024)
  --text N              text tokens between images (default 24)
  --leading-text N      text tokens before the first image (default 64)
  --heads N             query heads (default 28)
  --kv-heads N          KV heads (default 4)
  --head-dim N          head dim (default 128)
  --dtypes LIST         element types of Q, K, V: f32, f16, bf16 (default f32,bf16)
  --isas LIST           ISA levels (default: every level this CPU runs)
  --repeats N           timed rounds; medians are reported (default 1)
  --calibrate-layers N  also time calibrate() over N layers of the first size (default 0: skip)
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

/** "8K" / "32K" (the default prompts), or a plain image count. */
function imagesOf(size: string): number {
  const presets: Record<string, number> = { '4K': 4, '8K': 8, '16K': 16, '32K': 31, '64K': 62 };
  if (Object.hasOwn(presets, size.toUpperCase())) return presets[size.toUpperCase()]!;
  const n = Number(size);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`--sizes: ${size} is neither 4K/8K/16K/32K/64K nor an image count`);
  return n;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string' }, 'tokens-per-image': { type: 'string' }, text: { type: 'string' }, 'leading-text': { type: 'string' },
      heads: { type: 'string' }, 'kv-heads': { type: 'string' }, 'head-dim': { type: 'string' }, dtypes: { type: 'string' },
      isas: { type: 'string' }, repeats: { type: 'string' }, 'calibrate-layers': { type: 'string' }, threads: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const H = int(values.heads, 28, 'heads'), KV = int(values['kv-heads'], 4, 'kv-heads'), D = int(values['head-dim'], 128, 'head-dim');
  const dtypes = (values.dtypes ?? 'f32,bf16').split(',') as TensorDType[];
  for (const d of dtypes) if (!['f32', 'f16', 'bf16'].includes(d)) throw new RangeError('--dtypes takes f32, f16 and bf16');
  const info = cpuInfo();
  const isas = (values.isas?.split(',') ?? info.isas) as CpuIsa[];
  for (const i of isas) if (!info.isas.includes(i)) throw new RangeError(`--isas: ${i} is not available here (${info.isas.join(', ')})`);
  const repeats = Math.max(1, int(values.repeats, 1, 'repeats'));
  const calibrateLayers = int(values['calibrate-layers'], 0, 'calibrate-layers');
  const threads = int(values.threads, 0, 'threads');
  if (threads > 0) setThreads(threads);
  const sizes = (values.sizes ?? '8K,32K').split(',');
  const heads: HeadCategory[] = Array(H).fill('dense');

  console.log(`blindsight calibration bench: ${H} query / ${KV} KV heads, dim ${D}; ${getThreads()} threads; ` +
    `CPU levels ${isas.join(', ')} (default ${info.defaultIsa}); median of ${repeats}`);
  console.log('mass / attention: the attention-mass pass against dense attention (every head dense) on the same layer');
  const columns = ['tokens', 'images', 'isa       ', 'dtype', 'attention ms', 'mass ms', 'mass / attention', 'mass GFLOP/s'];
  console.log(columns.join('  '));
  console.log(columns.map((c) => '-'.repeat(c.length)).join('  '));
  let qkBytes = 0, maxTokens = 0, firstLayout: Layout | undefined;
  for (const size of sizes) {
    const layout = Layout.fromSegments(promptSegments({
      images: imagesOf(size),
      tokensPerImage: int(values['tokens-per-image'], 1024, 'tokens-per-image'),
      textBetween: int(values.text, 24, 'text'),
      leadingText: int(values['leading-text'], 64, 'leading-text'),
    }));
    firstLayout ??= layout;
    const N = layout.numTokens;
    maxTokens = Math.max(maxTokens, N);
    using plan = MaskPlan.build(layout);
    // Useful work of the pass: every image query against its causal row (text rows are not measured).
    let pairs = 0;
    for (let t = 0; t < N; t++) if (layout.imageIds[t] >= 0) pairs += t + 1;
    const flops = 2 * D * pairs * H;
    for (const dtype of dtypes) {
      const q = randomTensor(N * H * D, 1, dtype), k = randomTensor(N * KV * D, 2, dtype), v = randomTensor(N * KV * D, 3, dtype);
      qkBytes = Math.max(qkBytes, q.byteLength + k.byteLength);
      for (const isa of isas) {
        const shape = { plan, numHeads: H, numKvHeads: KV, headDim: D, dtype, isa };
        const [att, mass] = timeRounds([
          () => attentionSync({ ...shape, q, k, v, heads }),
          () => {
            const r = attentionMassSync({ ...shape, q, k });
            const worst = Math.max(...Array.from({ length: H }, (_, h) => Math.abs(r.mean.subarray(h * 7, h * 7 + 7).reduce((a, b) => a + b, 0) - 1)));
            if (worst > 1e-6) throw new Error(`mass fractions do not sum to 1 (off by ${worst})`);
          },
        ], repeats);
        const a = median(att!), m = median(mass!);
        console.log(`${String(N).padStart(6)}  ${String(layout.numImages).padStart(6)}  ${isa.padEnd(10)}  ${dtype.padEnd(5)}  ` +
          `${a.toFixed(0).padStart(12)}  ${m.toFixed(0).padStart(7)}  ${`${(m / a).toFixed(2)}x`.padStart(16)}  ${(flops / m / 1e6).toFixed(1).padStart(12)}`);
      }
    }
  }
  if (calibrateLayers > 0 && firstLayout) {
    const dtype = dtypes[0]!;
    const N = firstLayout.numTokens;
    const q = randomTensor(N * H * D, 1, dtype), k = randomTensor(N * KV * D, 2, dtype);
    const sample = memorySample({ name: 'bench', layout: firstLayout, layers: Array.from({ length: calibrateLayers }, () => ({ q, k })), numHeads: H, numKvHeads: KV, headDim: D, dtype });
    const t0 = performance.now();
    return void calibrate([sample]).then((policy) => {
      const s = (performance.now() - t0) / 1000;
      const c = policy.counts();
      console.log(`calibrate(), ${calibrateLayers} layer(s) of ${N} tokens, ${dtype}: ${s.toFixed(2)} s (${(s / calibrateLayers).toFixed(2)} s per layer); ` +
        `random Q/K give ${Object.entries(c).map(([k2, n]) => `${k2} ${n}`).join(', ')}`);
      memoryLine(qkBytes, maxTokens);
    });
  }
  if (firstLayout) memoryLine(qkBytes, maxTokens);
}

function memoryLine(qkBytes: number, n: number): void {
  const rss = process.resourceUsage().maxRSS * 1024;
  console.log(`peak RSS ${(rss / 2 ** 20).toFixed(0)} MiB; the largest Q+K ${(qkBytes / 2 ** 20).toFixed(0)} MiB ` +
    `(an N x N f32 score matrix for one head of ${n} tokens would be ${((n * n * 4) / 2 ** 30).toFixed(1)} GiB)`);
}

try {
  main();
} catch (e: unknown) {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
}
