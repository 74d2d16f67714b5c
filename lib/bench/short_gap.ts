/**
 * The benchmark of sparse heads on real prompt shapes: little text between images ("Image 2:" labels of a few
 * tokens), where a sparse image row sees few keys, so what every row costs (its q row in, its out row back, the
 * output's pages) weighs against the pairs it computes. Per shape, element type and head category: the call as most
 * users make it (no `out`: the addon hands back a native block from its recycled pool, with the event loop turning
 * between calls as in an async forward pass) and with a caller-owned `out` reused call after call, as time over the dense time of the same variant and over the kept FLOP share; and the
 * native phases each call reports (timing.prepareMs: plan walk, tile masks, K/V copy; timing.kernelMs), the rest
 * being argument checks, the output block and the return to JS. Every variant takes turns round by round.
 */
import { attentionSync, type AttentionResult } from '../attention/attention.js';
import type { CpuIsa } from '../attention/args.js';
import { HEAD_CATEGORIES, type HeadCategory } from '../core/categories.js';
import { toDType, type DType } from '../core/dtype.js';
import { Layout } from '../core/layout.js';
import { MaskPlan } from '../core/plan.js';
import { fillRandom, median, printTable, promptSegments, type PromptShape } from './workload.js';

/** 16 text tokens, then 8 x (image + 8 text tokens): 4,096 tokens with 502-token images, 8,192 with 1,014. */
export const SHORT_GAP_SHAPES: PromptShape[] = [
  { images: 8, tokensPerImage: 502, leadingText: 16, textBetween: 8 },
  { images: 8, tokensPerImage: 1014, leadingText: 16, textBetween: 8 },
];

/** The targets: sparse time / dense time over the kept share, without `out` and with it (intra-image categories). */
export const SHORT_GAP_TARGETS = { noOut: 1.5, withOutSink: 1.3, withOutIntra: 1.15 } as const;

export interface ShortGapOptions {
  shapes: PromptShape[];
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  dtypes: DType[];
  repeats: number;
  isa?: CpuIsa;
}

export interface PhaseSplit {
  totalMs: number;
  prepareMs: number;
  kernelMs: number;
  /** totalMs - prepareMs - kernelMs: checks, the output block, the return to JS */
  restMs: number;
}

export interface ShortGapRow {
  numTokens: number;
  dtype: DType;
  category: HeadCategory;
  keptRatio: number;
  noOut: PhaseSplit;
  withOut: PhaseSplit;
  /** (time / the dense time of the same variant) / keptRatio: 1 = the skipped FLOPs saved exactly */
  noOutOverKept: number;
  withOutOverKept: number;
  /** withOut time / noOut time */
  outSpeedup: number;
  /** the targets without out and with out; null for dense */
  passNoOut: boolean | null;
  passWithOut: boolean | null;
}

export interface NoYieldNote {
  numTokens: number;
  dtype: DType;
  category: HeadCategory;
  /** median ms of calls without out in a loop that never yields, and with the event loop turning between calls */
  noYieldMs: number;
  yieldMs: number;
}

export async function runShortGapBench(o: ShortGapOptions): Promise<{ rows: ShortGapRow[]; noYield?: NoYieldNote }> {
  const rows: ShortGapRow[] = [];
  let noYield: NoYieldNote | undefined;
  const H = o.numHeads, KV = o.numKvHeads, D = o.headDim;
  console.log(
    `short-gap prompts: ${o.shapes.map((s) => `${s.leadingText} + ${s.images} x (${s.tokensPerImage} + ${s.textBetween})`).join(', ')} tokens; ` +
      `${H} query / ${KV} KV heads, dim ${D}; median of ${o.repeats} rounds, every variant once per round`,
  );
  for (const shape of o.shapes) {
    const layout = Layout.fromSegments(promptSegments(shape));
    const plan = MaskPlan.build(layout);
    const n = layout.numTokens;
    const qf = fillRandom(new Float32Array(n * H * D), 1);
    const kf = fillRandom(new Float32Array(n * KV * D), 2);
    const vf = fillRandom(new Float32Array(n * KV * D), 3);
    const out = new Float32Array(n * H * D).fill(0);
    for (const dtype of o.dtypes) {
      const cast = (x: Float32Array) => (dtype === 'f32' ? x : toDType(x, dtype));
      const q = cast(qf), k = cast(kf), v = cast(vf);
      const base = { q, k, v, dtype, plan, numHeads: H, numKvHeads: KV, headDim: D, isa: o.isa };
      const tasks: (() => AttentionResult)[] = [];
      for (const category of HEAD_CATEGORIES)
        for (const withOut of [false, true]) {
          const heads = Array<HeadCategory>(H).fill(category);
          tasks.push(() => attentionSync(withOut ? { ...base, heads, out } : { ...base, heads }));
        }
      // The event loop gets a turn after every call, as in a model's async forward pass: Node runs the finalizers of
      // dropped outputs there, which give their native blocks back to the addon's pool for the next call.
      const ms = tasks.map((): number[] => []);
      const phases = tasks.map(() => ({ prepareMs: [] as number[], kernelMs: [] as number[] }));
      for (let r = -1; r < o.repeats; r++) // round -1 warms up pools, scratch and caches as a running model has them
        for (const [i, run] of tasks.entries()) {
          const t = performance.now();
          const result = run();
          if (r >= 0) {
            ms[i].push(performance.now() - t);
            phases[i].prepareMs.push(result.timing?.prepareMs ?? Number.NaN);
            phases[i].kernelMs.push(result.timing?.kernelMs ?? Number.NaN);
          }
          await new Promise((resolve) => setImmediate(resolve));
        }
      const split = (i: number): PhaseSplit => {
        const totalMs = median(ms[i]), prepareMs = median(phases[i].prepareMs), kernelMs = median(phases[i].kernelMs);
        return { totalMs, prepareMs, kernelMs, restMs: totalMs - prepareMs - kernelMs };
      };
      // Ratios per round, so that a slow spell of the machine weighs on the sparse and the dense run of that round alike.
      const overDense = (i: number, d: number) => median(ms[i].map((x, r) => x / ms[d][r]));
      for (const [c, category] of HEAD_CATEGORIES.entries()) {
        const kept = plan.stats(Array<HeadCategory>(H).fill(category)).keptRatio;
        const noOutOverKept = overDense(2 * c, 0) / kept, withOutOverKept = overDense(2 * c + 1, 1) / kept;
        const target = category === 'sink' ? SHORT_GAP_TARGETS.withOutSink : SHORT_GAP_TARGETS.withOutIntra;
        rows.push({
          numTokens: n, dtype, category, keptRatio: kept, noOut: split(2 * c), withOut: split(2 * c + 1),
          noOutOverKept, withOutOverKept, outSpeedup: median(ms[2 * c + 1].map((x, r) => ms[2 * c][r] / x)),
          passNoOut: category === 'dense' ? null : noOutOverKept <= SHORT_GAP_TARGETS.noOut,
          passWithOut: category === 'dense' ? null : withOutOverKept <= target,
        });
      }
      if (shape === o.shapes[0] && dtype === o.dtypes[0]) {
        // A loop that never gives the event loop a turn: no dropped output can come back to the pool, so every call
        // gets fresh memory whose pages the kernel's stores fault in.
        const heads = Array<HeadCategory>(H).fill('sink');
        const runs: number[] = [];
        for (let r = 0; r <= o.repeats; r++) {
          const t = performance.now();
          attentionSync({ ...base, heads });
          runs.push(performance.now() - t);
        }
        noYield = { numTokens: n, dtype, category: 'sink', noYieldMs: median(runs.slice(1)), yieldMs: median(ms[2]) };
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }
  const f1 = (x: number) => x.toFixed(1), f2 = (x: number) => x.toFixed(2);
  const verdict = (a: boolean | null, b: boolean | null) => (a === null || b === null ? '-' : `${a ? 'PASS' : 'MISS'} / ${b ? 'PASS' : 'MISS'}`);
  const phase = (s: PhaseSplit) => `${f1(s.totalMs)} = ${f1(s.prepareMs)} + ${f1(s.kernelMs)} + ${f1(s.restMs)}`;
  printTable(
    [
      ['tokens', 'dtype', 'category', 'kept', 'no out: ms = prep + kernel + rest', '/dense/kept', 'out: ms = prep + kernel + rest', '/dense/kept',
        'out speedup', 'targets'],
      ...rows.map((r) => [
        String(r.numTokens), r.dtype, r.category, `${(100 * r.keptRatio).toFixed(1)}%`, phase(r.noOut), f2(r.noOutOverKept), phase(r.withOut),
        f2(r.withOutOverKept), `${f2(r.outSpeedup)}x`, verdict(r.passNoOut, r.passWithOut),
      ]),
    ],
    3,
  );
  console.log(
    `targets: without out ≤ ${SHORT_GAP_TARGETS.noOut} x kept; with out ≤ ${SHORT_GAP_TARGETS.withOutSink} x kept (sink), ` +
      `≤ ${SHORT_GAP_TARGETS.withOutIntra} x kept (intra-image, intra-image+sink); targets column: without out / with out`,
  );
  if (noYield)
    console.log(
      `without out in a loop that never yields to the event loop (${noYield.numTokens} tokens, ${noYield.dtype}, ${noYield.category}): ` +
        `${f1(noYield.noYieldMs)} ms per call against ${f1(noYield.yieldMs)} ms with a turn between calls`,
    );
  return { rows, noYield };
}
