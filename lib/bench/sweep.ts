/**
 * `npm run bench -- --sweep`: attention time over prompt length x images per prompt x head category x dtype, with the
 * machine's FMA peak and (with --peer ort) ONNX Runtime measured in the same process. Prints a table, writes JSON and
 * an SVG plot (time and speedup vs length), and checks the performance targets (docs/performance.md) against what it measured.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { attentionSync, type CpuIsa, type Tensor } from '../attention/attention.js';
import type { HeadCategory } from '../core/categories.js';
import { toDType, type DType } from '../core/dtype.js';
import { Layout } from '../core/layout.js';
import { MaskPlan } from '../core/plan.js';
import { cpuInfo, fmaPeak, getThreads } from '../attention/runtime.js';
import { ProgressBar } from '../report/progress.js';
import { biasMasked, gqaCausal, loadOrt, type PeerRunner } from './ort_peer.js';
import { PALETTE, renderSvg, type Series } from './svg_plot.js';
import { examplePolicy, fillRandom, median, promptSegments, timeRounds, type PromptShape } from './workload.js';

export type Policy = HeadCategory | 'mixed';

export interface SweepConfig {
  lengths: number[];
  images: number[];
  policies: Policy[];
  dtypes: DType[];
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  repeats: number;
  threads: number;
  isa?: CpuIsa;
  /** Dense (all heads 'dense') is timed only up to this length: beyond it, it takes minutes. */
  denseMax: number;
  peer: 'ort' | null;
  /** ONNX Runtime materialises H x S^2 scores: beyond this length it does not fit in memory. */
  peerMax: number;
  outDir: string;
  planCheckTokens: number;
  /** Skip shapes with more tokens per image than this (long prompts with few images take minutes per run). */
  maxImageTokens: number;
}

export interface Measurement {
  medianMs: number;
  minMs: number;
  maxMs: number;
  runs: number;
}

export interface SweepRecord {
  length: number;
  numTokens: number;
  images: number;
  tokensPerImage: number;
  dtype: DType;
  policy: Policy;
  keptRatio: number;
  usefulGflop: number;
  ours: Measurement;
  usefulGflops: number;
  fractionOfPeak: number;
  speedupVsDense: number | null;
  /** (time / dense time) / keptRatio: 1 means the sparse kernel saves exactly the skipped FLOPs. */
  timeRatioOverKept: number | null;
  peer: { name: string; ms: Measurement; usefulGflops: number; maxAbsDiff: number } | null;
  planMs: number;
  maxRssMiB: number;
}

function summarize(ms: number[]): Measurement {
  return { medianMs: median(ms), minMs: Math.min(...ms), maxMs: Math.max(...ms), runs: ms.length };
}

async function measureAsync(fn: () => Promise<unknown>, repeats: number, warm: boolean): Promise<Measurement> {
  if (warm) await fn();
  const ms: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  return summarize(ms);
}

/** A prompt of `images` images with 64 leading and 24 in-between text tokens, padded to about `length` tokens. */
export function shapeFor(length: number, images: number): PromptShape | null {
  const text = 64 + 24 * images;
  const tokensPerImage = Math.floor((length - text) / images);
  if (tokensPerImage < 32) return null;
  return { images, tokensPerImage, leadingText: 64, textBetween: 24 };
}

function headsFor(policy: Policy, numHeads: number): HeadCategory[] {
  return policy === 'mixed' ? examplePolicy(numHeads) : Array<HeadCategory>(numHeads).fill(policy);
}

const maxRssMiB = () => process.resourceUsage().maxRSS / 1024;

function fmtLen(n: number): string {
  return n % 1024 === 0 ? `${n / 1024}K` : String(n);
}

export async function runSweep(cfg: SweepConfig): Promise<void> {
  const info = cpuInfo();
  const isa = cfg.isa ?? (info.defaultIsa as CpuIsa);
  const threads = cfg.threads || getThreads();
  const ort = cfg.peer === 'ort' ? await loadOrt() : null;

  const shapes: { length: number; images: number; shape: PromptShape }[] = [];
  for (const length of cfg.lengths)
    for (const images of cfg.images) {
      const shape = shapeFor(length, images);
      if (shape && shape.tokensPerImage <= cfg.maxImageTokens) shapes.push({ length, images, shape });
    }
  const units = shapes.reduce((acc, s) => {
    const n = s.length;
    let u = 0;
    for (const p of cfg.policies) if (p !== 'dense' || n <= cfg.denseMax) u += cfg.dtypes.length;
    if (ort && n <= cfg.peerMax) u += cfg.policies.length;
    return acc + u;
  }, 0);

  console.log(
    `blindsight sweep: ${cfg.numHeads} query / ${cfg.numKvHeads} KV heads, head dim ${cfg.headDim}; CPU kernel ${isa} ` +
      `(available: ${info.isas.join(', ')}), ${threads} threads, ${os.cpus()[0]?.model ?? 'unknown CPU'}; ` +
      `median of ${cfg.repeats} runs; dense timed up to ${fmtLen(cfg.denseMax)} tokens` +
      (ort ? `; peer onnxruntime-node ${ort.env.versions.common} up to ${fmtLen(cfg.peerMax)} tokens` : ''),
  );
  const peakStart = fmaPeak({ threads, isa, seconds: 1 });
  console.log(`f32 FMA peak (tight FMA loop, ${threads} threads, ${isa}): ${peakStart.toFixed(1)} GFLOP/s`);

  const records: SweepRecord[] = [];
  const progress = new ProgressBar({ total: units });
  const jsonPath = path.join(cfg.outDir, 'sweep.json');
  const svgPath = path.join(cfg.outDir, 'sweep.svg');
  mkdirSync(cfg.outDir, { recursive: true });
  let peak = peakStart;
  const save = () => {
    writeFileSync(
      jsonPath,
      JSON.stringify(
        {
          machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, isa, isas: info.isas, threads, fmaPeakGflops: peak },
          config: cfg,
          records,
          planCheck,
        },
        null,
        2,
      ) + '\n',
    );
  };
  let planCheck: { numTokens: number; images: number; firstMs: number; medianMs: number } | null = null;

  for (const { length, images, shape } of shapes) {
    const layout = Layout.fromSegments(promptSegments(shape));
    const n = layout.numTokens;
    const planTimes: number[] = [];
    let plan!: MaskPlan;
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      plan = MaskPlan.build(layout);
      planTimes.push(performance.now() - t);
    }
    const planMs = median(planTimes);
    const qf = fillRandom(new Float32Array(n * cfg.numHeads * cfg.headDim), 1);
    const kf = fillRandom(new Float32Array(n * cfg.numKvHeads * cfg.headDim), 2);
    const vf = fillRandom(new Float32Array(n * cfg.numKvHeads * cfg.headDim), 3);
    // A new typed array is mapped lazily; filling it faults its pages in here, so no timed run pays for them.
    const out = new Float32Array(qf.length).fill(0);
    const denseFlop = 4 * plan.stats('dense').denseCausalPairs * cfg.headDim * cfg.numHeads;
    const shapeRecords: SweepRecord[] = [];
    for (const dtype of cfg.dtypes) {
      const cast = (x: Float32Array): Tensor => (dtype === 'f32' ? x : toDType(x, dtype));
      const q = cast(qf), k = cast(kf), v = cast(vf);
      let denseMs: number | null = null;
      // The policies' runs are interleaved round by round, so a slow spell of this shared machine lands on every
      // policy alike instead of on one row (the sparse / dense ratios compare rows of the same rounds).
      const timed = cfg.policies
        .filter((policy) => !(policy === 'dense' && length > cfg.denseMax))
        .map((policy) => {
          const heads = headsFor(policy, cfg.numHeads);
          const kept = plan.stats(heads).keptRatio;
          const run = () => attentionSync({ q, k, v, dtype, plan, heads, numHeads: cfg.numHeads, numKvHeads: cfg.numKvHeads, headDim: cfg.headDim, out, isa, threads });
          return { policy, kept, run };
        });
      for (const t of timed) {
        progress.note(`${fmtLen(length)} tokens, ${images} images, ${dtype}, ${t.policy}: warm-up`);
        if ((t.kept * denseFlop) / 100e9 < 1) t.run(); // seconds at ~100 GFLOP/s: warm up only short runs
      }
      const runs = timeRounds(
        timed.map((t) => t.run),
        cfg.repeats,
        (i, r) => progress.note(`${fmtLen(length)} tokens, ${images} images, ${dtype}, ${timed[i].policy}: run ${r + 1} of ${cfg.repeats}`),
      );
      for (const [i, { policy, kept }] of timed.entries()) {
        const m = summarize(runs[i]);
        if (policy === 'dense') denseMs = m.medianMs;
        const useful = kept * denseFlop;
        const gflops = useful / m.medianMs / 1e6;
        const rec: SweepRecord = {
          length, numTokens: n, images, tokensPerImage: shape.tokensPerImage, dtype, policy, keptRatio: kept,
          usefulGflop: useful / 1e9, ours: m, usefulGflops: gflops, fractionOfPeak: gflops / peak,
          speedupVsDense: null, timeRatioOverKept: null, peer: null, planMs, maxRssMiB: maxRssMiB(),
        };
        shapeRecords.push(rec);
        records.push(rec);
        progress.tick(`${fmtLen(length)} tokens, ${images} images, ${dtype}, ${policy}: ${m.medianMs.toFixed(0)} ms`);
      }
      for (const r of shapeRecords)
        if (r.dtype === dtype && denseMs !== null) {
          r.speedupVsDense = denseMs / r.ours.medianMs;
          r.timeRatioOverKept = r.ours.medianMs / denseMs / r.keptRatio;
        }
    }

    if (ort && length <= cfg.peerMax) {
      const ps = { numTokens: n, numHeads: cfg.numHeads, numKvHeads: cfg.numKvHeads, headDim: cfg.headDim, threads };
      for (const policy of cfg.policies) {
        if (policy === 'mixed') {
          progress.tick('ORT: mixed policy skipped (per-head masks)');
          continue;
        }
        progress.note(`${fmtLen(length)} tokens, ${images} images, ONNX Runtime, ${policy}`);
        const name = policy === 'dense' ? 'ORT GroupQueryAttention (causal)' : 'ORT Attention + mask bias';
        let runner: PeerRunner | null = null;
        try {
          runner = policy === 'dense' ? await gqaCausal(ort, ps, qf, kf, vf) : await biasMasked(ort, ps, plan, policy, qf, kf, vf);
          const first = await runner.run(); // also the warm-up
          const heads = headsFor(policy, cfg.numHeads);
          attentionSync({ q: qf, k: kf, v: vf, plan, heads, numHeads: cfg.numHeads, numKvHeads: cfg.numKvHeads, headDim: cfg.headDim, out, isa, threads });
          let diff = 0;
          for (let i = 0; i < out.length; i++) diff = Math.max(diff, Math.abs(out[i] - first[i]));
          const r = runner;
          const m = await measureAsync(() => r.run(), cfg.repeats, false);
          const rec = shapeRecords.find((x) => x.dtype === 'f32' && x.policy === policy);
          const useful = plan.stats(heads).keptRatio * denseFlop;
          const peer = { name, ms: m, usefulGflops: useful / m.medianMs / 1e6, maxAbsDiff: diff };
          if (rec) rec.peer = peer;
          else records.push({ ...shapeRecords[0], policy, dtype: 'f32', ours: { medianMs: NaN, minMs: NaN, maxMs: NaN, runs: 0 }, peer });
        } catch (e) {
          console.error(`\nONNX Runtime failed on ${fmtLen(length)} tokens, ${policy}: ${e instanceof Error ? e.message : String(e)}`);
        } finally {
          await runner?.release();
        }
        progress.tick(`${fmtLen(length)} tokens, ONNX Runtime ${policy}`);
      }
    }
    for (const r of shapeRecords) r.maxRssMiB = maxRssMiB();
    save();
  }
  progress.done();
  peak = Math.max(peakStart, fmaPeak({ threads, isa, seconds: 1 }));
  for (const r of records) r.fractionOfPeak = r.usefulGflops / peak;

  if (cfg.planCheckTokens > 0) {
    const images = Math.max(1, Math.round(cfg.planCheckTokens / 2048));
    const shape = shapeFor(cfg.planCheckTokens, images)!;
    const layout = Layout.fromSegments(promptSegments(shape));
    const times: number[] = [];
    for (let i = 0; i < 8; i++) {
      const t = performance.now();
      MaskPlan.build(layout);
      times.push(performance.now() - t);
    }
    // The first build also makes the layout's native per-token tables (kept for later plans of the same layout).
    planCheck = { numTokens: layout.numTokens, images, firstMs: times[0], medianMs: median(times.slice(1)) };
  }

  printTable(records, peak, peakStart);
  printTargets(records, peak, planCheck);
  save();
  writeFileSync(svgPath, sweepSvg(records, cfg, isa, threads, peak));
  console.log(`wrote ${jsonPath} and ${svgPath}`);
}

function printTable(records: SweepRecord[], peak: number, peakStart: number): void {
  const rows = records.filter((r) => r.ours.runs > 0);
  const spread = (m: Measurement) => ((m.maxMs - m.minMs) / m.medianMs) * 100;
  const table = [
    ['tokens', 'images', 'dtype', 'policy', 'kept', 'ms', 'spread', 'GFLOP/s', 'of peak', 'vs dense', '/kept', 'ORT ms', 'ORT GFLOP/s', 'vs ORT'],
    ...rows.map((r) => [
      fmtLen(r.length),
      String(r.images),
      r.dtype,
      r.policy,
      `${(r.keptRatio * 100).toFixed(1)}%`,
      r.ours.medianMs.toFixed(r.ours.medianMs < 100 ? 1 : 0),
      `${spread(r.ours).toFixed(0)}%`,
      r.usefulGflops.toFixed(1),
      `${(r.fractionOfPeak * 100).toFixed(0)}%`,
      r.speedupVsDense === null ? '-' : `${r.speedupVsDense.toFixed(2)}x`,
      r.timeRatioOverKept === null || r.policy === 'dense' ? '-' : r.timeRatioOverKept.toFixed(2),
      r.peer ? r.peer.ms.medianMs.toFixed(0) : '-',
      r.peer ? r.peer.usefulGflops.toFixed(1) : '-',
      r.peer ? `${(r.peer.ms.medianMs / r.ours.medianMs).toFixed(2)}x` : '-',
    ]),
  ];
  console.log(
    `\nuseful GFLOP/s counts visible pairs only (4 * pairs * headDim per head); of peak = vs the FMA peak ${peak.toFixed(1)} ` +
      `GFLOP/s (start of run ${peakStart.toFixed(1)}, the higher of start and end is used); spread = (max - min) / median; ` +
      `/kept = (time / dense time) / kept-FLOP ratio`,
  );
  const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
  for (const [i, r] of table.entries()) {
    console.log(r.map((cell, c) => (c === 3 || c === 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

function printTargets(records: SweepRecord[], peak: number, planCheck: { numTokens: number; firstMs: number; medianMs: number } | null): void {
  console.log('\ntargets (measured in this run):');
  const line = (ok: boolean, text: string) => console.log(`  ${ok ? 'PASS' : 'FAIL'}  ${text}`);
  const dense8k = records.find((r) => r.length === 8192 && r.policy === 'dense' && r.dtype === 'f32' && r.ours.runs > 0);
  if (dense8k) {
    line(dense8k.fractionOfPeak >= 0.75, `dense causal f32 at 8K: ${dense8k.usefulGflops.toFixed(1)} GFLOP/s = ${(dense8k.fractionOfPeak * 100).toFixed(0)}% of the ${peak.toFixed(1)} GFLOP/s FMA peak (target >= 75%)`);
    if (dense8k.peer)
      line(
        dense8k.usefulGflops / dense8k.peer.usefulGflops >= 2.2,
        `vs ${dense8k.peer.name}: ${dense8k.peer.usefulGflops.toFixed(1)} GFLOP/s, ours ${(dense8k.usefulGflops / dense8k.peer.usefulGflops).toFixed(2)}x (target >= 2.2x)`,
      );
  }
  for (const r of records)
    if (r.policy !== 'dense' && r.policy !== 'mixed' && r.timeRatioOverKept !== null && (r.images === 8 || r.images === 64) && r.dtype === 'f32')
      line(
        r.timeRatioOverKept <= 1.15,
        `${r.policy} at ${fmtLen(r.length)} tokens, ${r.images} images: time(sparse)/time(dense) = ` +
          `${(r.timeRatioOverKept * r.keptRatio * 100).toFixed(2)}% for ${(r.keptRatio * 100).toFixed(2)}% kept FLOPs = ` +
          `${r.timeRatioOverKept.toFixed(2)} x kept (target <= 1.15)`,
      );
  for (const r of records)
    if (r.dtype === 'bf16' && r.ours.runs > 0) {
      const f = records.find((x) => x.dtype === 'f32' && x.length === r.length && x.images === r.images && x.policy === r.policy && x.ours.runs > 0);
      if (f) line(f.ours.medianMs / r.ours.medianMs >= 1.6, `bf16 vs f32, ${r.policy} at ${fmtLen(r.length)} tokens, ${r.images} images: ${(f.ours.medianMs / r.ours.medianMs).toFixed(2)}x (target >= 1.6x)`);
    }
  for (const r of records)
    if (r.policy === 'dense' && r.dtype === 'f32' && r.ours.runs > 0)
      line(r.planMs <= 0.01 * r.ours.medianMs, `plan build at ${fmtLen(r.length)} tokens, ${r.images} images: ${r.planMs.toFixed(2)} ms = ${((r.planMs / r.ours.medianMs) * 100).toFixed(3)}% of dense attention (target <= 1%)`);
  const sparseOnly = records.filter((r) => r.policy !== 'dense' && r.dtype === 'f32' && r.ours.runs > 0);
  for (const r of sparseOnly)
    if (r.length >= 131072 && r.images === 64)
      console.log(`  info  ${fmtLen(r.length)} tokens, 64 images, ${r.policy}: ${r.ours.medianMs.toFixed(0)} ms, peak RSS so far ${r.maxRssMiB.toFixed(0)} MiB`);
  if (planCheck)
    line(
      planCheck.medianMs <= 5,
      `plan build at ${planCheck.numTokens} tokens: ${planCheck.medianMs.toFixed(2)} ms median of later builds; ` +
        `${planCheck.firstMs.toFixed(2)} ms for the first, which also builds the layout's native tables (target <= 5 ms)`,
    );
}

function sweepSvg(records: SweepRecord[], cfg: SweepConfig, isa: string, threads: number, peak: number): string {
  const key = (r: SweepRecord) => `${r.policy}, ${r.images} img, ${r.dtype}`;
  const groups = new Map<string, SweepRecord[]>();
  for (const r of records) if (r.ours.runs > 0) groups.set(key(r), [...(groups.get(key(r)) ?? []), r]);
  const timeSeries: Series[] = [];
  const speedSeries: Series[] = [];
  let ci = 0;
  const colors = new Map<string, string>();
  const colorOf = (r: SweepRecord) => {
    const k = `${r.policy}|${r.dtype}`;
    if (!colors.has(k)) colors.set(k, PALETTE[ci++ % PALETTE.length]);
    return colors.get(k)!;
  };
  for (const [label, rs] of groups) {
    const color = colorOf(rs[0]);
    const dashed = rs[0].images !== cfg.images[0];
    timeSeries.push({ label, color, dashed, points: rs.map((r) => [r.numTokens, r.ours.medianMs / 1000]) });
    if (rs[0].policy !== 'dense') {
      const pts = rs.filter((r) => r.speedupVsDense !== null).map((r): [number, number] => [r.numTokens, r.speedupVsDense!]);
      if (pts.length) speedSeries.push({ label: `${label}`, color, dashed, points: pts });
    }
  }
  const peerGroups = new Map<string, SweepRecord[]>();
  for (const r of records) if (r.peer) peerGroups.set(`${r.policy}|${r.images}`, [...(peerGroups.get(`${r.policy}|${r.images}`) ?? []), r]);
  for (const rs of peerGroups.values())
    timeSeries.push({ label: `ORT ${rs[0].policy}, ${rs[0].images} img`, color: '#555555', dotted: true, points: rs.map((r) => [r.numTokens, r.peer!.ms.medianMs / 1000]) });
  return renderSvg(
    'blindsight CPU prefill attention',
    `${cfg.numHeads}/${cfg.numKvHeads} heads, dim ${cfg.headDim}; ${isa}, ${threads} threads, ${os.cpus()[0]?.model ?? ''}; FMA peak ${peak.toFixed(0)} GFLOP/s; median of ${cfg.repeats}`,
    [
      { title: 'Time per attention layer', xLabel: 'prompt length (tokens)', yLabel: 'seconds (log)', logY: true, series: timeSeries },
      { title: 'Speedup over dense (same kernel, same run)', xLabel: 'prompt length (tokens)', yLabel: 'x faster than all-dense', logY: true, series: speedSeries },
    ],
  );
}
