/**
 * The GPU benchmark (`npm run bench -- --backend cuda`): dense vs each head category vs an example mixed policy, at one
 * or more prompt lengths, on the CUDA backend, with host-device copies timed apart from the kernel. With
 * `--peer torch` it also runs bench/torch_peers.py in the same invocation (PyTorch scaled_dot_product_attention and
 * FlexAttention with the equivalent BlockMask, built from the same segment layout) and prints both side by side.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HEAD_CATEGORIES, type HeadCategory } from '../core/categories.js';
import { requireCuda, type ElementType } from '../backends/cuda.js';
import { cudaAttentionRaw, cudaBenchmark, type CudaRawArgs } from '../backends/cuda_calls.js';
import { toDType } from '../core/dtype.js';
import { Layout } from '../core/layout.js';
import { MaskPlan } from '../core/plan.js';
import { packageRoot } from '../core/native.js';
import { examplePolicy, fillRandom, median, promptSegments, type PromptShape } from './workload.js';

export interface CudaBenchOptions {
  shape: PromptShape;
  /** Prompt lengths to sweep; the image count is chosen to reach each. Empty: the shape as given. */
  tokens: number[];
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  repeats: number;
  dtype: ElementType;
  textKeys: boolean;
  check: boolean;
  peer: 'torch' | null;
  python: string;
  json?: string;
}

interface Row {
  tokens: number;
  policy: string;
  keptFlopRatio: number;
  denseMs: number;
  sparseMs: number;
  speedup: number;
  idealSpeedup: number;
  usefulTflops: number;
  maxAbsError: number;
  sdpaDenseMs?: number;
  flexMs?: number;
  flexMaskOk?: boolean;
}

function policies(numHeads: number): [string, HeadCategory[]][] {
  return [
    ...HEAD_CATEGORIES.map((c): [string, HeadCategory[]] => [c, Array<HeadCategory>(numHeads).fill(c)]),
    ['mixed', examplePolicy(numHeads)],
  ];
}

/** The shape with as many images as it takes to reach about `tokens` tokens. */
function shapeFor(base: PromptShape, tokens: number): PromptShape {
  const per = base.tokensPerImage + base.textBetween;
  return { ...base, images: Math.max(1, Math.round((tokens - base.leadingText) / per)) };
}

function randomInput(n: number, seed: number, dtype: ElementType): Float32Array | Uint16Array {
  const chunk = 1 << 22;
  if (dtype === 'f32') return fillRandom(new Float32Array(n), seed);
  const out = new Uint16Array(n);
  const tmp = new Float32Array(chunk);
  for (let at = 0, s = seed; at < n; at += chunk, s += 7919) {
    const m = Math.min(chunk, n - at);
    const part = fillRandom(tmp.subarray(0, m), s);
    out.set(toDType(part, dtype), at);
  }
  return out;
}

export function runCudaBench(o: CudaBenchOptions): void {
  const { info } = requireCuda();
  const shapes = o.tokens.length ? o.tokens.map((t) => shapeFor(o.shape, t)) : [o.shape];
  console.log(
    `blindsight GPU bench: ${info.device?.name} (sm_${info.device?.computeCapability}, ${info.device?.multiprocessors} SMs), ` +
      `CUDA runtime ${info.runtimeVersion}, driver ${info.driverVersion}; ${o.numHeads} query / ${o.numKvHeads} KV heads, ` +
      `dim ${o.headDim}, ${o.dtype}; textKeys ${o.textKeys}; kernel time = median of ${o.repeats} runs (CUDA events)`,
  );
  const rows: Row[] = [];
  const peerInput: { tokens: number; segments: ReturnType<typeof promptSegments>; visiblePairs: Record<string, number> }[] = [];
  for (const shape of shapes) {
    const segments = promptSegments(shape);
    const layout = Layout.fromSegments(segments);
    const n = layout.numTokens;
    const plan = MaskPlan.build(layout, { textKeys: o.textKeys });
    const qLen = n * o.numHeads * o.headDim, kvLen = n * o.numKvHeads * o.headDim;
    const base = {
      plan,
      numHeads: o.numHeads,
      numKvHeads: o.numKvHeads,
      headDim: o.headDim,
      q: randomInput(qLen, 1, o.dtype),
      k: randomInput(kvLen, 2, o.dtype),
      v: randomInput(kvLen, 3, o.dtype),
      inputType: o.dtype,
      outputType: 'f32' as const,
    };
    const out = new Float32Array(qLen);
    const check = new Float32Array(qLen);
    const exhaustive = o.check ? MaskPlan.build(layout, { textKeys: o.textKeys, exhaustive: true }) : null;
    const run = (heads: HeadCategory[]): { ms: number; copies: string } => {
      const args: CudaRawArgs = { ...base, heads, out };
      cudaBenchmark(args, 1); // warm-up
      const t = cudaBenchmark(args, o.repeats);
      return {
        ms: median(t.kernelMs),
        copies: `upload ${t.uploadMs.toFixed(1)} ms, plan ${t.planMs.toFixed(2)} ms, download ${t.downloadMs.toFixed(1)} ms`,
      };
    };
    const dense = run(Array<HeadCategory>(o.numHeads).fill('dense'));
    const denseFlops = 4 * plan.stats(Array<HeadCategory>(o.numHeads).fill('dense')).denseCausalPairs * o.headDim;
    console.log(`\n${n} tokens (${shape.images} images x ${shape.tokensPerImage}); copies (not in kernel times): ${dense.copies}`);
    const visiblePairs: Record<string, number> = {};
    for (const [name, heads] of policies(o.numHeads)) {
      const st = plan.stats(heads);
      visiblePairs[name] = st.visiblePairs;
      const ms = name === 'dense' ? dense.ms : run(heads).ms;
      let maxErr = Number.NaN;
      if (exhaustive) {
        cudaAttentionRaw({ ...base, heads, out: check, plan: exhaustive });
        cudaAttentionRaw({ ...base, heads, out });
        maxErr = 0;
        for (let i = 0; i < qLen; i++) maxErr = Math.max(maxErr, Math.abs(out[i] - check[i]));
      }
      rows.push({
        tokens: n,
        policy: name,
        keptFlopRatio: st.keptRatio,
        denseMs: dense.ms,
        sparseMs: ms,
        speedup: dense.ms / ms,
        idealSpeedup: 1 / st.keptRatio,
        usefulTflops: (st.keptRatio * denseFlops) / ms / 1e9,
        maxAbsError: maxErr,
      });
    }
    peerInput.push({ tokens: n, segments, visiblePairs });
  }

  if (o.peer === 'torch') mergePeers(o, peerInput, rows);
  printTable(rows, o.peer !== null);
  if (o.json) {
    writeFileSync(o.json, JSON.stringify({ backend: 'cuda', device: info.device, dtype: o.dtype, numHeads: o.numHeads, numKvHeads: o.numKvHeads, headDim: o.headDim, rows }, null, 2) + '\n');
    console.log(`wrote ${o.json}`);
  }
}

function mergePeers(o: CudaBenchOptions, input: { tokens: number; segments: unknown; visiblePairs: Record<string, number> }[], rows: Row[]) {
  const dir = mkdtempSync(path.join(tmpdir(), 'blindsight-peers-'));
  try {
    const request = path.join(dir, 'request.json');
    const result = path.join(dir, 'result.json');
    writeFileSync(
      request,
      JSON.stringify({
        numHeads: o.numHeads,
        numKvHeads: o.numKvHeads,
        headDim: o.headDim,
        dtype: o.dtype,
        textKeys: o.textKeys,
        repeats: o.repeats,
        policies: Object.fromEntries(policies(o.numHeads).map(([name, heads]) => [name, heads])),
        prompts: input,
      }),
    );
    const script = path.join(packageRoot, 'bench', 'torch_peers.py');
    if (!existsSync(script)) {
      console.error(`${script} not found: the peer script ships in the source checkout, not in the npm package`);
      return;
    }
    const r = spawnSync(o.python, [script, '--request', request, '--out', result], { stdio: 'inherit' });
    if (r.error || r.status !== 0) {
      console.error(`peer script failed (${r.error?.message ?? `exit ${r.status}`}); printing blindsight only`);
      return;
    }
    const peers = JSON.parse(readFileSync(result, 'utf8')) as {
      rows: { tokens: number; policy: string; sdpaDenseMs: number | null; flexMs: number | null; maskOk: boolean | null }[];
    };
    for (const p of peers.rows) {
      const row = rows.find((x) => x.tokens === p.tokens && x.policy === p.policy);
      if (!row) continue;
      if (p.sdpaDenseMs !== null) row.sdpaDenseMs = p.sdpaDenseMs;
      if (p.flexMs !== null) row.flexMs = p.flexMs;
      if (p.maskOk !== null) row.flexMaskOk = p.maskOk;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function printTable(rows: Row[], peers: boolean): void {
  const head = ['tokens', 'policy', 'kept FLOPs', 'dense ms', 'sparse ms', 'speedup', 'ideal', 'useful TFLOP/s', 'max |err|'];
  if (peers) head.push('SDPA dense ms', 'Flex ms', 'vs Flex', 'Flex mask');
  const table = [
    head,
    ...rows.map((r) => {
      const cells = [
        String(r.tokens),
        r.policy,
        `${(r.keptFlopRatio * 100).toFixed(1)} %`,
        r.denseMs.toFixed(2),
        r.sparseMs.toFixed(2),
        `${r.speedup.toFixed(2)}x`,
        `${r.idealSpeedup.toFixed(2)}x`,
        r.usefulTflops.toFixed(1),
        Number.isNaN(r.maxAbsError) ? 'skipped' : r.maxAbsError.toExponential(1),
      ];
      if (peers)
        cells.push(
          r.sdpaDenseMs === undefined ? '-' : r.sdpaDenseMs.toFixed(2),
          r.flexMs === undefined ? '-' : r.flexMs.toFixed(2),
          r.flexMs === undefined ? '-' : `${(r.flexMs / r.sparseMs).toFixed(2)}x`,
          r.flexMaskOk === undefined ? '-' : r.flexMaskOk ? 'same' : 'DIFFERS',
        );
      return cells;
    }),
  ];
  const widths = head.map((_, c) => Math.max(...table.map((r) => r[c].length)));
  console.log('');
  for (const [i, r] of table.entries()) {
    console.log(r.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

