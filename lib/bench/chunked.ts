/**
 * The benchmark of attention as runtimes call it: the default workload prefilled in micro-batches of N query tokens
 * against the KV cache so far, against one whole-prompt call, per head category and element type, in one process with
 * the variants taking turns round by round; a head-major KV cache read in place through strides against the packed
 * token-major one; and, for a ring of KV shards, how many (query shard, key shard) steps each category skips
 * (MaskPlan.rangeStats).
 */
import { attentionSync } from '../attention/attention.js';
import { HEAD_CATEGORIES, type HeadCategory } from '../core/categories.js';
import { toDType, type DType } from '../core/dtype.js';
import { Layout } from '../core/layout.js';
import { MaskPlan } from '../core/plan.js';
import type { CpuIsa } from '../attention/args.js';
import { examplePolicy, fillRandom, median, promptSegments, timeRounds, type PromptShape } from './workload.js';

export interface ChunkedBenchOptions {
  shape: PromptShape;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  chunks: number[];
  dtypes: DType[];
  repeats: number;
  isa?: CpuIsa;
  textKeys: boolean;
  /** Ring steps: this many query shards x key shards over the prompt (0 = no shard table). */
  shards: number;
  shardShape: PromptShape;
}

export interface ChunkedRow {
  policy: string;
  dtype: DType;
  wholeMs: number;
  /** per chunk size: total ms of the micro-batched prefill, and its ratio to wholeMs */
  chunked: { chunk: number; ms: number; ratio: number }[];
  headMajorMs: number;
  headMajorRatio: number;
}

export function runChunkedBench(o: ChunkedBenchOptions): { rows: ChunkedRow[]; shards?: ShardRow[] } {
  const layout = Layout.fromSegments(promptSegments(o.shape));
  const plan = MaskPlan.build(layout, { textKeys: o.textKeys });
  const n = layout.numTokens, H = o.numHeads, KV = o.numKvHeads, D = o.headDim;
  const qf = fillRandom(new Float32Array(n * H * D), 1);
  const kf = fillRandom(new Float32Array(n * KV * D), 2);
  const vf = fillRandom(new Float32Array(n * KV * D), 3);
  // The same keys and values as a head-major cache: [kv head][token][dim].
  const headMajor = (x: Float32Array) => {
    const y = new Float32Array(x.length);
    for (let t = 0; t < n; t++) for (let g = 0; g < KV; g++) y.set(x.subarray((t * KV + g) * D, (t * KV + g + 1) * D), (g * n + t) * D);
    return y;
  };
  const khf = headMajor(kf), vhf = headMajor(vf);
  const out = new Float32Array(n * H * D).fill(0);
  const hmStrides = { k: { token: D, head: n * D }, v: { token: D, head: n * D } };
  console.log(
    `chunked prefill: ${n} tokens (${o.shape.images} images x ${o.shape.tokensPerImage}), ${H} query / ${KV} KV heads, dim ${D}; ` +
      `chunks ${o.chunks.join(', ')}; every call with a caller-owned out; median of ${o.repeats} rounds`,
  );
  const policies: [string, HeadCategory[]][] = [
    ...HEAD_CATEGORIES.map((c): [string, HeadCategory[]] => [c, Array<HeadCategory>(H).fill(c)]),
    ['mixed', examplePolicy(H)],
  ];
  const rows: ChunkedRow[] = [];
  for (const dtype of o.dtypes) {
    const cast = (x: Float32Array) => (dtype === 'f32' ? x : toDType(x, dtype));
    const q = cast(qf), k = cast(kf), v = cast(vf), kh = cast(khf), vh = cast(vhf);
    const base = { dtype, plan, numHeads: H, numKvHeads: KV, headDim: D, isa: o.isa };
    for (const [name, heads] of policies) {
      const whole = () => void attentionSync({ ...base, heads, q, k, v, out });
      const wholeHeadMajor = () => void attentionSync({ ...base, heads, q, k: kh, v: vh, strides: hmStrides, out });
      const chunked = (size: number) => () => {
        for (let b = 0; b < n; b += size) {
          const e = Math.min(n, b + size);
          attentionSync({
            ...base, heads, q: q.subarray(b * H * D, e * H * D), k: k.subarray(0, e * KV * D), v: v.subarray(0, e * KV * D),
            queries: [b, e], keys: [0, e], out: out.subarray(b * H * D, e * H * D),
          });
        }
      };
      const tasks = [whole, wholeHeadMajor, ...o.chunks.map(chunked)];
      const ms = timeRounds(tasks, o.repeats).map(median);
      rows.push({
        policy: name, dtype, wholeMs: ms[0], headMajorMs: ms[1], headMajorRatio: ms[1] / ms[0],
        chunked: o.chunks.map((chunk, i) => ({ chunk, ms: ms[2 + i], ratio: ms[2 + i] / ms[0] })),
      });
    }
  }
  const table = [
    ['policy', 'dtype', 'whole ms', 'head-major KV', ...o.chunks.map((c) => `chunks of ${c}`)],
    ...rows.map((r) => [
      r.policy, r.dtype, r.wholeMs.toFixed(1), `${r.headMajorRatio.toFixed(3)}x`,
      ...r.chunked.map((c) => `${c.ms.toFixed(1)} ms ${c.ratio.toFixed(3)}x`),
    ]),
  ];
  print(table);
  if (o.shards <= 0) return { rows };
  const shards = shardTable(o.shardShape, o.shards, o.textKeys);
  return { rows, shards };
}

export interface ShardRow {
  category: HeadCategory;
  steps: number;
  /** steps with k shard after q shard: nothing visible for any head of a causal model */
  causalEmpty: number;
  /** steps this category skips: no visible pair */
  empty: number;
  keptOfSteps: number;
}

/** Ring attention over `s` equal query and key shards of one prompt: the steps each category has nothing to do in. */
export function shardTable(shape: PromptShape, s: number, textKeys: boolean): ShardRow[] {
  const layout = Layout.fromSegments(promptSegments(shape));
  const plan = MaskPlan.build(layout, { textKeys });
  const n = layout.numTokens;
  const cut = (i: number) => Math.round((i * n) / s);
  const t0 = performance.now();
  const rows = HEAD_CATEGORIES.map((category): ShardRow => {
    let empty = 0, causalEmpty = 0;
    for (let qi = 0; qi < s; qi++)
      for (let ki = 0; ki < s; ki++) {
        const st = plan.rangeStats(category, [cut(qi), cut(qi + 1)], [cut(ki), cut(ki + 1)]);
        if (st.empty) empty++;
        if (ki > qi) causalEmpty++;
      }
    return { category, steps: s * s, causalEmpty, empty, keptOfSteps: (s * s - empty) / (s * s) };
  });
  const ms = performance.now() - t0;
  console.log(
    `\nring attention: ${s} query shards x ${s} KV shards of ${n} tokens (${shape.images} images x ${shape.tokensPerImage}, ` +
      `text ${shape.leadingText} + ${shape.textBetween}/gap, textKeys ${textKeys}); ${4 * s * s} rangeStats calls in ${ms.toFixed(2)} ms`,
  );
  print([
    ['category', 'steps', 'empty (causal)', 'empty (this category)', 'steps to compute'],
    ...rows.map((r) => [r.category, String(r.steps), String(r.causalEmpty), String(r.empty), String(r.steps - r.empty)]),
  ]);
  return rows;
}

function print(table: string[][]): void {
  const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
  for (const [i, r] of table.entries()) {
    console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}
