#!/usr/bin/env node
/**
 * The microbenchmark harness. Default workload: a Qwen2-VL-7B-like attention layer (28 query heads, 4 KV heads,
 * head dim 128, f32) over one prompt of 8 images x 1,024 tokens with short text between them. For each head
 * category (every head in that category), and for an example mixed policy, it prints the kept-FLOP ratio, the time of
 * the all-dense layer and of the sparse one (median of --repeats runs, measured in this process, the policies taking
 * turns round by round), the speedup, and the max abs error against the dense-masked computation (every block
 * visited, element rule on every pair).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isaOption } from '../attention/args.js';
import { attentionSync } from '../attention/attention.js';
import { HEAD_CATEGORIES, type HeadCategory } from '../core/categories.js';
import { Layout } from '../core/layout.js';
import { MaskPlan } from '../core/plan.js';
import { cpuInfo, fmaPeak, getThreads, setThreads } from '../attention/runtime.js';
import { runChunkedBench } from './chunked.js';
import { SHORT_GAP_SHAPES, runShortGapBench } from './short_gap.js';
import { runCudaBench } from './cuda.js';
import { DTYPES, toDType, type DType } from '../core/dtype.js';
import { runSweep, type Policy } from './sweep.js';
import { examplePolicy, fillRandom, median, promptSegments, timeRounds } from './workload.js';

const HELP = `usage: npm run bench -- [options]            one prompt, every head category (default)
       npm run bench -- --sweep [sweep options]  time and speedup vs prompt length, images, category, dtype
       npm run bench -- --chunk LIST [options]   micro-batched prefill vs one whole-prompt call, head-major KV
       npm run bench -- --short-gap [options]    sparse heads on prompts with a few text tokens between images

  --images N            images in the prompt (default 8)
  --tokens-per-image N  tokens per image, delimiters included (default 1024)
  --text N              text tokens between images (default 24)
  --leading-text N      text tokens before the first image (default 64)
  --heads N             query heads (default 28)
  --kv-heads N          KV heads (default 4)
  --head-dim N          head dim (default 128)
  --repeats N           timed runs per row; the median is reported (default 3)
  --threads N           kernel threads (default: all cores)
  --isa NAME            force a CPU kernel level: generic | avx2 | avx512 | avx512bf16 (x64), neon | neonbf16 (arm64)
  --text-keys BOOL      sparse heads see text keys (default true)
  --no-check            skip the error check against the dense-masked computation
  --dtype f32|f16|bf16  input element type (default f32)
  --json FILE           also write the results as JSON
  -h, --help            this text

micro-batches (with --chunk; the prompt options above apply):
  --chunk LIST          micro-batch sizes, e.g. 2048,512: each batch attends to the KV cache so far
  --dtypes LIST         f32, f16, bf16 (default f32,bf16)
  --shards N            also count the ring-attention steps each category skips, N query x N KV shards
                        (default 8, over 8 images x 4096 tokens; 0 = off)

short-gap prompts (with --short-gap; --heads, --kv-heads, --head-dim, --repeats, --threads, --isa apply):
  --short-gap           16 text tokens + 8 x (image + 8 text) at 4K and 8K tokens: each category without out and
                        with a reused out, over dense and the kept FLOP share, with the native phases of each call
  --dtypes LIST         f32, f16, bf16 (default f32,bf16)

GPU (needs the CUDA module, npm run build:cuda, and a GPU):
  --backend cuda        run on the CUDA backend (the options above apply, except --threads and --isa)
  --dtype T             element type of q/k/v on the GPU: bf16 (default) | f16 | f32
  --tokens LIST         prompt lengths to sweep, e.g. 8192,16384,32768,65536,131072 (images are added to reach them)
  --peer torch          also time PyTorch SDPA and FlexAttention (bench/torch_peers.py) on the same prompts
  --python PATH         python for --peer (default python3)

sweep options (with --sweep; lists are comma-separated, lengths accept K suffixes):
  --lengths LIST        prompt lengths (default 1K,2K,4K,8K,16K,32K,64K,128K)
  --images LIST         images per prompt (default 8,64; shapes with < 32 tokens per image are skipped)
  --policies LIST       dense, sink, intra-image, intra-image+sink, mixed (default: dense and the three sparse ones)
  --dtypes LIST         f32, f16, bf16 (default f32)
  --dense-max N         longest prompt to time all-dense heads on (default 16K)
  --peer ort            also run ONNX Runtime (GroupQueryAttention causal; Attention with a mask bias per category)
  --peer-max N          longest prompt for the peer (default 8K: it materialises heads x S^2 scores)
  --out DIR             where sweep.json and sweep.svg go (default bench-results)
  --plan-check N        also time plan building at N tokens (default 300K; 0 = off)
  --max-image-tokens N  skip shapes with more tokens per image (default: no limit)
  --repeats, --threads, --isa, --heads, --kv-heads, --head-dim as above`;

function int(v: string | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`--${name} must be a non-negative integer, got ${v}`);
  return n;
}

function tokens(v: string, name: string): number {
  const m = /^(\d+(?:\.\d+)?)([kK])?$/.exec(v.trim());
  if (!m) throw new RangeError(`--${name}: ${v} is not a token count (e.g. 8192 or 8K)`);
  const n = Math.round(Number(m[1]) * (m[2] ? 1024 : 1));
  if (n < 1) throw new RangeError(`--${name} must be positive`);
  return n;
}

function list<T>(v: string | undefined, dflt: T[], parse: (s: string) => T): T[] {
  return v === undefined ? dflt : v.split(',').filter(Boolean).map(parse);
}

function oneOf<T extends string>(allowed: readonly T[], name: string) {
  return (s: string): T => {
    if (!(allowed as readonly string[]).includes(s)) throw new RangeError(`--${name}: ${s} is not one of ${allowed.join(', ')}`);
    return s as T;
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sweep: { type: 'boolean' },
      lengths: { type: 'string' },
      policies: { type: 'string' },
      dtypes: { type: 'string' },
      dtype: { type: 'string' },
      'dense-max': { type: 'string' },
      peer: { type: 'string' },
      'peer-max': { type: 'string' },
      out: { type: 'string' },
      'plan-check': { type: 'string' },
      'max-image-tokens': { type: 'string' },
      images: { type: 'string' },
      'tokens-per-image': { type: 'string' },
      text: { type: 'string' },
      'leading-text': { type: 'string' },
      heads: { type: 'string' },
      'kv-heads': { type: 'string' },
      'head-dim': { type: 'string' },
      repeats: { type: 'string' },
      threads: { type: 'string' },
      isa: { type: 'string' },
      'text-keys': { type: 'string' },
      'no-check': { type: 'boolean' },
      json: { type: 'string' },
      backend: { type: 'string' },
      tokens: { type: 'string' },
      python: { type: 'string' },
      chunk: { type: 'string' },
      'short-gap': { type: 'boolean' },
      shards: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (values.sweep) {
    if (values.peer !== undefined && values.peer !== 'ort') throw new RangeError(`--peer: the CPU sweep supports 'ort'`);
    const threads = int(values.threads, 0, 'threads');
    if (threads > 0) setThreads(threads);
    await runSweep({
      lengths: list(values.lengths, [1, 2, 4, 8, 16, 32, 64, 128].map((k) => k * 1024), (x) => tokens(x, 'lengths')),
      images: list(values.images, [8, 64], (x) => tokens(x, 'images')),
      policies: list<Policy>(values.policies, ['dense', 'sink', 'intra-image', 'intra-image+sink'], oneOf<Policy>([...HEAD_CATEGORIES, 'mixed'], 'policies')),
      dtypes: list<DType>(values.dtypes, ['f32'], oneOf(DTYPES, 'dtypes')),
      numHeads: int(values.heads, 28, 'heads'),
      numKvHeads: int(values['kv-heads'], 4, 'kv-heads'),
      headDim: int(values['head-dim'], 128, 'head-dim'),
      repeats: Math.max(1, int(values.repeats, 3, 'repeats')),
      threads,
      isa: isaOption(values.isa) ?? undefined,
      denseMax: values['dense-max'] === undefined ? 16384 : tokens(values['dense-max'], 'dense-max'),
      peer: values.peer === 'ort' ? 'ort' : null,
      peerMax: values['peer-max'] === undefined ? 8192 : tokens(values['peer-max'], 'peer-max'),
      outDir: values.out ?? 'bench-results',
      maxImageTokens: values['max-image-tokens'] === undefined ? Number.POSITIVE_INFINITY : tokens(values['max-image-tokens'], 'max-image-tokens'),
      planCheckTokens: values['plan-check'] === undefined ? 300_000 : values['plan-check'] === '0' ? 0 : tokens(values['plan-check'], 'plan-check'),
    });
    return;
  }
  const dtype = oneOf(DTYPES, 'dtype')(values.dtype ?? 'f32');
  const shape = {
    images: int(values.images, 8, 'images'),
    tokensPerImage: int(values['tokens-per-image'], 1024, 'tokens-per-image'),
    textBetween: int(values.text, 24, 'text'),
    leadingText: int(values['leading-text'], 64, 'leading-text'),
  };
  const numHeads = int(values.heads, 28, 'heads');
  const numKvHeads = int(values['kv-heads'], 4, 'kv-heads');
  const headDim = int(values['head-dim'], 128, 'head-dim');
  const repeats = Math.max(1, int(values.repeats, 3, 'repeats'));
  const threads = int(values.threads, 0, 'threads');
  const textKeys = values['text-keys'] === undefined ? true : values['text-keys'] !== 'false';
  if (values.backend !== undefined && values.backend !== 'cpu') {
    if (values.backend !== 'cuda') throw new RangeError(`--backend must be cpu or cuda, got ${values.backend}`);
    const dtype = values.dtype ?? 'bf16';
    if (dtype !== 'bf16' && dtype !== 'f16' && dtype !== 'f32') throw new RangeError(`--dtype must be bf16, f16 or f32, got ${dtype}`);
    if (values.peer !== undefined && values.peer !== 'torch') throw new RangeError(`--peer must be torch, got ${values.peer}`);
    runCudaBench({
      shape,
      tokens: (values.tokens ?? '').split(',').filter(Boolean).map((t) => int(t, 0, 'tokens')),
      numHeads,
      numKvHeads,
      headDim,
      repeats,
      dtype,
      textKeys,
      check: !values['no-check'],
      peer: values.peer === 'torch' ? 'torch' : null,
      python: values.python ?? 'python3',
      json: values.json,
    });
    return;
  }
  if (threads > 0) setThreads(threads);
  const isa = isaOption(values.isa) ?? undefined;
  if (values['short-gap']) {
    const result = await runShortGapBench({
      shapes: SHORT_GAP_SHAPES, numHeads, numKvHeads, headDim, repeats, isa,
      dtypes: list<DType>(values.dtypes, ['f32', 'bf16'], oneOf(DTYPES, 'dtypes')),
    });
    if (values.json) {
      writeFileSync(values.json, JSON.stringify({ numHeads, numKvHeads, headDim, isa: isa ?? cpuInfo().defaultIsa, threads: threads || getThreads(), ...result }, null, 2) + '\n');
      console.log(`wrote ${values.json}`);
    }
    return;
  }
  if (values.chunk !== undefined) {
    const result = runChunkedBench({
      shape, numHeads, numKvHeads, headDim, repeats, isa, textKeys,
      chunks: list(values.chunk, [2048, 512], (x) => tokens(x, 'chunk')),
      dtypes: list<DType>(values.dtypes, ['f32', 'bf16'], oneOf(DTYPES, 'dtypes')),
      shards: int(values.shards, 8, 'shards'),
      shardShape: { ...shape, tokensPerImage: 4096 },
    });
    if (values.json) {
      writeFileSync(values.json, JSON.stringify({ shape, numHeads, numKvHeads, headDim, isa: isa ?? cpuInfo().defaultIsa, ...result }, null, 2) + '\n');
      console.log(`wrote ${values.json}`);
    }
    return;
  }

  const info = cpuInfo(); // loads the addon, so the plan timing below is the build alone
  const layout = Layout.fromSegments(promptSegments(shape));
  const n = layout.numTokens;
  const t0 = performance.now();
  const plan = MaskPlan.build(layout, { textKeys });
  const planMs = performance.now() - t0;
  const exhaustive = MaskPlan.build(layout, { textKeys, exhaustive: true });
  const qf = fillRandom(new Float32Array(n * numHeads * headDim), 1);
  const kf = fillRandom(new Float32Array(n * numKvHeads * headDim), 2);
  const vf = fillRandom(new Float32Array(n * numKvHeads * headDim), 3);
  const cast = (x: Float32Array) => (dtype === 'f32' ? x : toDType(x, dtype));
  const q = cast(qf), k = cast(kf), v = cast(vf);
  const q32 = qf;
  const out = new Float32Array(q32.length).fill(0); // pages faulted in here, not in a timed run
  const peak = fmaPeak({ threads: threads || getThreads(), isa, seconds: 1 });
  console.log(
    `blindsight bench: ${shape.images} images x ${shape.tokensPerImage} tokens, text ${shape.leadingText} + ${shape.textBetween}/gap ` +
      `= ${n} tokens; ${numHeads} query / ${numKvHeads} KV heads, dim ${headDim}, ${dtype}; textKeys ${textKeys}\n` +
      `CPU kernel ${isa ?? info.defaultIsa} (available: ${info.isas.join(', ')}), ${threads || getThreads()} threads; ` +
      `plan built in ${planMs.toFixed(2)} ms (${plan.numQueryBlocks} query blocks, ${(plan.bytes / 1024).toFixed(1)} KiB); ` +
      `median of ${repeats} runs; f32 FMA peak ${peak.toFixed(1)} GFLOP/s`,
  );

  const denseHeads = Array<HeadCategory>(numHeads).fill('dense');
  const denseFlops = 4 * plan.stats(denseHeads).denseCausalPairs * headDim;
  const policies: [string, HeadCategory[]][] = [
    ...HEAD_CATEGORIES.map((c): [string, HeadCategory[]] => [c, Array<HeadCategory>(numHeads).fill(c)]),
    ['mixed (example policy)', examplePolicy(numHeads)],
  ];
  const run = (heads: HeadCategory[]) => () => {
    attentionSync({ q, k, v, dtype, plan, heads, numHeads, numKvHeads, headDim, out, isa });
  };
  // Round by round over the policies (see timeRounds), so the sparse / dense ratios compare runs of the same rounds.
  const times = timeRounds(policies.map(([, heads]) => run(heads)), repeats).map(median);
  const denseMs = times[policies.findIndex(([name]) => name === 'dense')];
  const rows: Record<string, number | string>[] = [];
  const check = new Float32Array(q32.length);
  for (const [i, [name, heads]] of policies.entries()) {
    const st = plan.stats(heads);
    const ms = times[i];
    let maxErr = Number.NaN;
    if (!values['no-check']) {
      run(heads)();
      attentionSync({ q, k, v, dtype, plan: exhaustive, heads, numHeads, numKvHeads, headDim, out: check, isa });
      maxErr = 0;
      for (let j = 0; j < out.length; j++) maxErr = Math.max(maxErr, Math.abs(out[j] - check[j]));
    }
    rows.push({
      policy: name,
      keptFlopRatio: st.keptRatio,
      denseMs,
      sparseMs: ms,
      speedup: denseMs / ms,
      idealSpeedup: 1 / st.keptRatio,
      usefulGflops: (st.keptRatio * denseFlops) / ms / 1e6,
      fractionOfPeak: (st.keptRatio * denseFlops) / ms / 1e6 / peak,
      maxAbsError: maxErr,
    });
  }

  const table = [
    ['policy', 'kept FLOPs', 'dense ms', 'sparse ms', 'speedup', 'ideal', 'useful GFLOP/s', 'of peak', 'max |err|'],
    ...rows.map((r) => [
      String(r.policy),
      `${((r.keptFlopRatio as number) * 100).toFixed(1)} %`,
      (r.denseMs as number).toFixed(1),
      (r.sparseMs as number).toFixed(1),
      `${(r.speedup as number).toFixed(2)}x`,
      `${(r.idealSpeedup as number).toFixed(2)}x`,
      (r.usefulGflops as number).toFixed(1),
      `${((r.fractionOfPeak as number) * 100).toFixed(0)} %`,
      Number.isNaN(r.maxAbsError) ? 'skipped' : (r.maxAbsError as number).toExponential(1),
    ]),
  ];
  const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
  for (const [i, r] of table.entries()) {
    console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  if (values.json) {
    writeFileSync(values.json, JSON.stringify({ shape, numTokens: n, numHeads, numKvHeads, headDim, dtype, isa: isa ?? info.defaultIsa, fmaPeakGflops: peak, planMs, rows }, null, 2) + '\n');
    console.log(`wrote ${values.json}`);
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? `${e.name}: ${e.message}` : e);
  process.exit(1);
});
