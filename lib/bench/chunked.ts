/**
 * The benchmark of attention as runtimes call it: the default workload prefilled in micro-batches of N query tokens
 * against the KV cache so far, against one whole-prompt call, per head category and element type, in one process with
 * the variants taking turns round by round; a head-major KV cache read in place through strides against the packed
 * token-major one; the token-major one with a KvPack, whose copy of the cache lasts from call to call; and, for a
 * ring of KV shards, how many (query shard, key shard) steps each category skips (MaskPlan.rangeStats).
 */
import { attentionSync } from '../attention/attention.js';
import { KvPack } from '../attention/kv_pack.js';
import { HEAD_CATEGORIES, type HeadCategory } from '../core/categories.js';
import { toDType, type DType } from '../core/dtype.js';
import { Layout } from '../core/layout.js';
import { MaskPlan } from '../core/plan.js';
import type { CpuIsa } from '../attention/args.js';
import { examplePolicy, fillRandom, median, printTable, promptSegments, timeRounds, type PromptShape } from './workload.js';

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
  /** the same against a head-major cache read in place (no per-call K/V copy) */
  chunkedHeadMajor: { chunk: number; ms: number; ratio: number }[];
  /** the token-major cache with a KvPack (reset for each prefill): each key row copied once per prefill */
  chunkedKvPack: { chunk: number; ms: number; ratio: number }[];
  headMajorMs: number;
  headMajorRatio: number;
}

export function runChunkedBench(o: ChunkedBenchOptions): { rows: ChunkedRow[]; shards?: ShardRow[][] } {
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
      // The cache so far: a prefix of the token-major K/V (which the CPU kernel copies head-major on every call), or
      // the head-major cache with the prompt's capacity, read in place.
      // With a KvPack, as a runtime keeps one per layer and resets it for each prompt.
      const chunked = (size: number, inPlace: boolean, kvPack?: KvPack) => () => {
        kvPack?.reset();
        for (let b = 0; b < n; b += size) {
          const e = Math.min(n, b + size);
          const kv = inPlace ? { k: kh, v: vh, strides: hmStrides } : { k: k.subarray(0, e * KV * D), v: v.subarray(0, e * KV * D) };
          attentionSync({ ...base, heads, q: q.subarray(b * H * D, e * H * D), ...kv, queries: [b, e], keys: [0, e], out: out.subarray(b * H * D, e * H * D), kvPack });
        }
      };
      const packs = o.chunks.map(() => new KvPack());
      const tasks = [
        whole, wholeHeadMajor, ...o.chunks.map((c) => chunked(c, false)), ...o.chunks.map((c) => chunked(c, true)),
        ...o.chunks.map((c, i) => chunked(c, false, packs[i])),
      ];
      const ms = timeRounds(tasks, o.repeats).map(median);
      for (const p of packs) p.dispose();
      const m = o.chunks.length;
      rows.push({
        policy: name, dtype, wholeMs: ms[0], headMajorMs: ms[1], headMajorRatio: ms[1] / ms[0],
        chunked: o.chunks.map((chunk, i) => ({ chunk, ms: ms[2 + i], ratio: ms[2 + i] / ms[0] })),
        chunkedHeadMajor: o.chunks.map((chunk, i) => ({ chunk, ms: ms[2 + m + i], ratio: ms[2 + m + i] / ms[0] })),
        chunkedKvPack: o.chunks.map((chunk, i) => ({ chunk, ms: ms[2 + 2 * m + i], ratio: ms[2 + 2 * m + i] / ms[0] })),
      });
    }
  }
  const table = [
    [
      'policy', 'dtype', 'whole ms', 'head-major KV', ...o.chunks.map((c) => `chunks of ${c}`), ...o.chunks.map((c) => `${c}, head-major`),
      ...o.chunks.map((c) => `${c}, KvPack`),
    ],
    ...rows.map((r) => [
      r.policy, r.dtype, r.wholeMs.toFixed(1), `${r.headMajorRatio.toFixed(3)}x`,
      ...r.chunked.map((c) => `${c.ms.toFixed(1)} ms ${c.ratio.toFixed(3)}x`),
      ...r.chunkedHeadMajor.map((c) => `${c.ratio.toFixed(3)}x`),
      ...r.chunkedKvPack.map((c) => `${c.ratio.toFixed(3)}x`),
    ]),
  ];
  printTable(table);
  if (o.shards <= 0) return { rows };
  // Equal shards, shards that start at image starts, and the same for images back to back (no text rows in a shard
  // but the first: text queries see every earlier key under every category, so they keep a step from being empty).
  const shards = [shardTable(o.shardShape, o.shards, o.textKeys, false)];
  if (o.shards === o.shardShape.images) {
    shards.push(shardTable(o.shardShape, o.shards, o.textKeys, true));
    shards.push(shardTable({ ...o.shardShape, textBetween: 0 }, o.shards, o.textKeys, true));
  }
  return { rows, shards };
}

export interface ShardRow {
  category: HeadCategory;
  steps: number;
  /** steps with k shard after q shard: nothing visible for any head of a causal model */
  causalEmpty: number;
  /** steps this category skips: no visible pair */
  empty: number;
  /** steps with visible pairs but fewer than 1 % of the base mask's */
  nearlyEmpty: number;
  /** visible pairs over the base mask's pairs, all steps */
  keptPairs: number;
}

/**
 * Ring attention over `s` query and key shards of one prompt: the steps each category has nothing to do in. Shards of
 * equal token counts, or (alignToImages, with one shard per image) each an image with the text after it.
 */
export function shardTable(shape: PromptShape, s: number, textKeys: boolean, alignToImages = false): ShardRow[] {
  const layout = Layout.fromSegments(promptSegments(shape));
  const plan = MaskPlan.build(layout, { textKeys });
  const n = layout.numTokens;
  const imageStarts: number[] = [];
  for (let t = 0; t < n; t++) if (layout.imageIds[t] >= 0 && (t === 0 || layout.imageIds[t - 1] !== layout.imageIds[t])) imageStarts.push(t);
  const cut = (i: number) => (alignToImages ? (i === 0 ? 0 : i === s ? n : imageStarts[i]) : Math.round((i * n) / s));
  const t0 = performance.now();
  const rows = HEAD_CATEGORIES.map((category): ShardRow => {
    let empty = 0, causalEmpty = 0, nearlyEmpty = 0, visible = 0, base = 0;
    for (let qi = 0; qi < s; qi++)
      for (let ki = 0; ki < s; ki++) {
        const st = plan.rangeStats(category, [cut(qi), cut(qi + 1)], [cut(ki), cut(ki + 1)]);
        if (st.empty) empty++;
        else if (st.visiblePairs < 0.01 * st.basePairs) nearlyEmpty++;
        if (ki > qi) causalEmpty++;
        visible += st.visiblePairs;
        base += st.basePairs;
      }
    return { category, steps: s * s, causalEmpty, empty, nearlyEmpty, keptPairs: base > 0 ? visible / base : 1 };
  });
  const ms = performance.now() - t0;
  console.log(
    `\nring attention: ${s} query shards x ${s} KV shards ${alignToImages ? '(one per image)' : '(equal)'} of ${n} tokens (${shape.images} images x ${shape.tokensPerImage}, ` +
      `text ${shape.leadingText} + ${shape.textBetween}/gap, textKeys ${textKeys}); ${4 * s * s} rangeStats calls in ${ms.toFixed(2)} ms`,
  );
  printTable([
    ['category', 'steps', 'empty (causal)', 'empty (this category)', '< 1 % of base pairs', 'steps to compute', 'kept pairs'],
    ...rows.map((r) => [r.category, String(r.steps), String(r.causalEmpty), String(r.empty), String(r.nearlyEmpty), String(r.steps - r.empty),
      `${(100 * r.keptPairs).toFixed(1)} %`]),
  ]);
  return rows;
}
