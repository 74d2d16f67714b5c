#!/usr/bin/env node
/**
 * The microbenchmark harness. Default workload: a Qwen2-VL-7B-like attention layer (28 query heads, 4 KV heads,
 * head dim 128, f32) over one prompt of 8 images x 1,024 tokens with short text between them. For each head
 * category (every head in that category), and for an example mixed policy, it prints the kept-FLOP ratio, the time of
 * the all-dense layer and of the sparse one (median of --repeats runs, measured in this process), the speedup, and
 * the max abs error against the dense-masked computation (every block visited, element rule on every pair).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { attentionSync, type CpuIsa } from '../attention.js';
import { HEAD_CATEGORIES, type HeadCategory } from '../categories.js';
import { Layout } from '../layout.js';
import { MaskPlan } from '../plan.js';
import { cpuInfo, getThreads, setThreads } from '../runtime.js';
import { runCudaBench } from './cuda.js';
import { examplePolicy, fillRandom, median, promptSegments } from './workload.js';

const HELP = `usage: npm run bench -- [options]

  --images N            images in the prompt (default 8)
  --tokens-per-image N  tokens per image, delimiters included (default 1024)
  --text N              text tokens between images (default 24)
  --leading-text N      text tokens before the first image (default 64)
  --heads N             query heads (default 28)
  --kv-heads N          KV heads (default 4)
  --head-dim N          head dim (default 128)
  --repeats N           timed runs per row; the median is reported (default 3)
  --threads N           kernel threads (default: all cores)
  --isa NAME            force a CPU kernel level: generic | avx2 | avx512
  --text-keys BOOL      sparse heads see text keys (default true)
  --no-check            skip the error check against the dense-masked computation
  --json FILE           also write the results as JSON
  -h, --help            this text

GPU (needs the CUDA module, npm run build:cuda, and a GPU):
  --backend cuda        run on the CUDA backend (the options above apply, except --threads and --isa)
  --dtype T             element type of q/k/v on the GPU: bf16 (default) | f16 | f32
  --tokens LIST         prompt lengths to sweep, e.g. 8192,16384,32768,65536,131072 (images are added to reach them)
  --peer torch          also time PyTorch SDPA and FlexAttention (bench/torch_peers.py) on the same prompts
  --python PATH         python for --peer (default python3)`;

function int(v: string | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`--${name} must be a non-negative integer, got ${v}`);
  return n;
}

function main(): void {
  const { values } = parseArgs({
    options: {
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
      dtype: { type: 'string' },
      tokens: { type: 'string' },
      peer: { type: 'string' },
      python: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
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
  const isa = values.isa as CpuIsa | undefined;
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

  const info = cpuInfo(); // loads the addon, so the plan timing below is the build alone
  const layout = Layout.fromSegments(promptSegments(shape));
  const n = layout.numTokens;
  const t0 = performance.now();
  const plan = MaskPlan.build(layout, { textKeys });
  const planMs = performance.now() - t0;
  const exhaustive = MaskPlan.build(layout, { textKeys, exhaustive: true });
  const q = fillRandom(new Float32Array(n * numHeads * headDim), 1);
  const k = fillRandom(new Float32Array(n * numKvHeads * headDim), 2);
  const v = fillRandom(new Float32Array(n * numKvHeads * headDim), 3);
  const out = new Float32Array(q.length);
  console.log(
    `blindsight bench: ${shape.images} images x ${shape.tokensPerImage} tokens, text ${shape.leadingText} + ${shape.textBetween}/gap ` +
      `= ${n} tokens; ${numHeads} query / ${numKvHeads} KV heads, dim ${headDim}, f32; textKeys ${textKeys}\n` +
      `CPU kernel ${isa ?? info.defaultIsa} (available: ${info.isas.join(', ')}), ${threads || getThreads()} threads; ` +
      `plan built in ${planMs.toFixed(2)} ms (${plan.numQueryBlocks} query blocks, ${(plan.bytes / 1024).toFixed(1)} KiB); ` +
      `median of ${repeats} runs`,
  );

  const time = (heads: HeadCategory[], p: MaskPlan, dst: Float32Array): number => {
    const ms: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const s = performance.now();
      attentionSync({ q, k, v, plan: p, heads, numHeads, numKvHeads, headDim, out: dst, isa });
      ms.push(performance.now() - s);
    }
    return median(ms);
  };

  const denseHeads = Array<HeadCategory>(numHeads).fill('dense');
  const denseMs = time(denseHeads, plan, out);
  const denseFlops = 4 * plan.stats(denseHeads).denseCausalPairs * headDim;
  const rows: Record<string, number | string>[] = [];
  const policies: [string, HeadCategory[]][] = [
    ...HEAD_CATEGORIES.map((c): [string, HeadCategory[]] => [c, Array<HeadCategory>(numHeads).fill(c)]),
    ['mixed (example policy)', examplePolicy(numHeads)],
  ];
  const check = new Float32Array(q.length);
  for (const [name, heads] of policies) {
    const st = plan.stats(heads);
    const ms = name === 'dense' ? denseMs : time(heads, plan, out);
    let maxErr = Number.NaN;
    if (!values['no-check']) {
      attentionSync({ q, k, v, plan: exhaustive, heads, numHeads, numKvHeads, headDim, out: check, isa });
      maxErr = 0;
      for (let i = 0; i < out.length; i++) maxErr = Math.max(maxErr, Math.abs(out[i] - check[i]));
    }
    rows.push({
      policy: name,
      keptFlopRatio: st.keptRatio,
      denseMs,
      sparseMs: ms,
      speedup: denseMs / ms,
      idealSpeedup: 1 / st.keptRatio,
      usefulGflops: (st.keptRatio * denseFlops) / ms / 1e6,
      maxAbsError: maxErr,
    });
  }

  const table = [
    ['policy', 'kept FLOPs', 'dense ms', 'sparse ms', 'speedup', 'ideal', 'useful GFLOP/s', 'max |err|'],
    ...rows.map((r) => [
      String(r.policy),
      `${((r.keptFlopRatio as number) * 100).toFixed(1)} %`,
      (r.denseMs as number).toFixed(1),
      (r.sparseMs as number).toFixed(1),
      `${(r.speedup as number).toFixed(2)}x`,
      `${(r.idealSpeedup as number).toFixed(2)}x`,
      (r.usefulGflops as number).toFixed(1),
      Number.isNaN(r.maxAbsError) ? 'skipped' : (r.maxAbsError as number).toExponential(1),
    ]),
  ];
  const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
  for (const [i, r] of table.entries()) {
    console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  if (values.json) {
    writeFileSync(values.json, JSON.stringify({ shape, numTokens: n, numHeads, numKvHeads, headDim, isa: isa ?? info.defaultIsa, planMs, rows }, null, 2) + '\n');
    console.log(`wrote ${values.json}`);
  }
}

try {
  main();
} catch (e) {
  console.error(e instanceof Error ? `${e.name}: ${e.message}` : e);
  process.exit(1);
}
