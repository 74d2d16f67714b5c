/**
 * Head calibration: decides each (layer, head)'s BlindSight category from where its attention mass really goes on
 * sample prompts (the paper's per-model, prompt-agnostic decision), without ever forming an N x N matrix.
 *
 * For every sample and layer the native attention-mass pass splits each image query's dense row into seven buckets
 * (MASS_BUCKETS); a category's retained mass is a fixed sum of buckets (retainedMass), so averaging buckets averages
 * retained mass exactly. A head gets the category with the fewest kept attention FLOPs (MaskPlan.stats over the
 * samples' layouts) whose retained mass, averaged over the image queries of all samples, is at least `tau`, and
 * whose worst sample (that sample's own average) is at least `worstTau`; dense always qualifies. Pinned layers stay
 * dense. The statistics go into the policy's `meta.calibration`, so `rethreshold` can re-decide without recomputing.
 */
import { HEAD_CATEGORIES, type HeadCategory } from '../core/categories.js';
import type { CpuIsa } from '../attention/attention.js';
import { BlindsightError, typeError, rangeError } from '../core/errors.js';
import { attentionMass, MASS_BUCKETS, NUM_MASS_BUCKETS, retainedMass } from './mass.js';
import { MaskPlan } from '../core/plan.js';
import { HeadPolicy } from '../core/policy.js';
import { openSample, type CalibrationSample, type OpenSampleOptions } from './samples.js';

export const CALIBRATION_VERSION = 1;

export interface PinOptions {
  /** Keep the first k layers dense. */
  pinFirst?: number;
  /** Keep the last k layers dense. */
  pinLast?: number;
  /** Keep these layers dense. */
  pinLayers?: readonly number[];
}

export interface ThresholdOptions extends PinOptions {
  /** Minimum retained mass averaged over all image queries of all samples (default 0.95). */
  tau?: number;
  /** Minimum retained mass of the worst sample (its own average over its image queries; default tau - 0.05). */
  worstTau?: number;
  /** Whether sparse heads will see text keys at inference (the plan option; default true). */
  textKeys?: boolean;
}

export interface CalibrationProgress {
  /** 0-based sample and layer just finished. */
  sample: number;
  samples: number;
  sampleName: string;
  layer: number;
  layers: number;
  /** Work done and total, in dense attention pairs x layers (so long samples weigh more). */
  done: number;
  total: number;
}

export interface CalibrateOptions extends ThresholdOptions, OpenSampleOptions {
  /** Base-mask options of the model (must match how the policy will be run). */
  bidirectionalImages?: boolean;
  window?: number | null;
  /** Softmax scale; default: each sample's `blindsight.scale`, else 1/sqrt(headDim). */
  scale?: number;
  /** Model name recorded in the policy (default: the samples' `blindsight.model`). */
  model?: string;
  threads?: number;
  isa?: CpuIsa;
  onProgress?: (p: CalibrationProgress) => void;
}

type PerCategory = Record<HeadCategory, number>;

/** What `meta.calibration` of a calibrated policy holds. */
export interface CalibrationStats {
  version: number;
  threshold: number;
  worstSampleThreshold: number;
  textKeys: boolean;
  bidirectionalImages: boolean;
  window: number | null;
  pinned: { first: number; last: number; layers: number[] };
  buckets: string[];
  samples: { name: string; numTokens: number; numImages: number; imageQueries: number; scale: number }[];
  /** Kept attention FLOPs of one head per category, relative to dense, pooled over the samples' layouts. */
  keptRatio: { textKeys: PerCategory; noTextKeys: PerCategory };
  /** [layer][head][bucket]: mean fraction of the dense row mass over all image queries of all samples. */
  mass: number[][][];
  /** [layer][head][category]: the lowest per-sample mean retained mass (categories in HEAD_CATEGORIES order). */
  worstSample: { textKeys: number[][][]; noTextKeys: number[][][] };
}

/** Calibrates a policy from samples (safetensors paths or CalibrationSample objects). */
export async function calibrate(inputs: readonly (string | CalibrationSample)[], options: CalibrateOptions = {}): Promise<HeadPolicy> {
  if (!Array.isArray(inputs) || inputs.length === 0) throw typeError('calibrate needs at least one sample');
  const thresholds = thresholdOptions(options);
  const bidirectionalImages = options.bidirectionalImages ?? false;
  const window = options.window ?? null;
  const opened: CalibrationSample[] = [];
  try {
    for (const s of inputs) opened.push(typeof s === 'string' ? await openSample(s, options) : s);
    return await run(opened, options, thresholds, bidirectionalImages, window);
  } finally {
    await Promise.all(opened.filter((s, i) => typeof inputs[i] === 'string' && s.close).map((s) => s.close!()));
  }
}

async function run(
  samples: CalibrationSample[],
  options: CalibrateOptions,
  t: Required<Omit<ThresholdOptions, 'pinLayers'>> & { pinLayers: number[] },
  bidirectionalImages: boolean,
  window: number | null,
): Promise<HeadPolicy> {
  const s0 = samples[0]!;
  for (const s of samples) {
    for (const key of ['numLayers', 'numHeads', 'numKvHeads', 'headDim'] as const)
      if (s[key] !== s0[key])
        throw new BlindsightError('SHAPE_MISMATCH', `sample ${s.name} has ${key} ${s[key]} but ${s0.name} has ${s0[key]}; calibrate one model at a time`);
  }
  const { numLayers: L, numHeads: H } = s0;
  checkPins(t, L);

  // Kept FLOPs per category, for both textKeys settings, pooled over the layouts.
  const pairs = { textKeys: [0, 0, 0, 0], noTextKeys: [0, 0, 0, 0] };
  const plans = samples.map((s) => {
    const plan = MaskPlan.build(s.layout, { textKeys: t.textKeys, bidirectionalImages, window });
    const other = MaskPlan.build(s.layout, { textKeys: !t.textKeys, bidirectionalImages, window });
    for (const [p, tk] of [[plan, t.textKeys], [other, !t.textKeys]] as const) {
      const st = p.stats([...HEAD_CATEGORIES]);
      st.perCategory.forEach((c, i) => (pairs[tk ? 'textKeys' : 'noTextKeys'][i]! += c.visiblePairs));
    }
    return plan;
  });
  const keptRatio = {
    textKeys: perCategory((i) => pairs.textKeys[i]! / pairs.textKeys[0]!),
    noTextKeys: perCategory((i) => pairs.noTextKeys[i]! / pairs.noTextKeys[0]!),
  };

  const sums = new Float64Array(L * H * NUM_MASS_BUCKETS);
  const worst = { textKeys: new Float64Array(L * H * 4).fill(Infinity), noTextKeys: new Float64Array(L * H * 4).fill(Infinity) };
  const weights = plans.map((p) => p.stats('dense').perCategory[0]!.visiblePairs);
  const total = weights.reduce((a, b) => a + b, 0) * L;
  let done = 0;
  const sampleInfo: CalibrationStats['samples'] = [];
  let imageQueries = 0;
  for (let si = 0; si < samples.length; si++) {
    const s = samples[si]!;
    const scale = options.scale ?? s.scale ?? 1 / Math.sqrt(s.headDim);
    let sampleQueries = 0;
    // Reads layer l+1 from disk while layer l is measured; at most two layers are in memory.
    let next: Promise<Awaited<ReturnType<CalibrationSample['readLayer']>>> | null = s.readLayer(0);
    for (let l = 0; l < L; l++) {
      const cur = await next!;
      next = l + 1 < L ? s.readLayer(l + 1) : null;
      next?.catch(() => undefined); // a failed read surfaces when it is awaited
      const r = await attentionMass({
        q: cur.q, k: cur.k, dtype: s.dtype, plan: plans[si]!, numHeads: H, numKvHeads: s.numKvHeads, headDim: s.headDim,
        scale, threads: options.threads, isa: options.isa,
      });
      sampleQueries = r.imageQueries;
      for (let i = 0; i < H * NUM_MASS_BUCKETS; i++) sums[l * H * NUM_MASS_BUCKETS + i]! += r.sum[i]!;
      if (r.imageQueries > 0) {
        for (let h = 0; h < H; h++) {
          HEAD_CATEGORIES.forEach((c, ci) => {
            const at = (l * H + h) * 4 + ci;
            worst.textKeys[at] = Math.min(worst.textKeys[at]!, retainedMass(r.mean, c, true, h * NUM_MASS_BUCKETS));
            worst.noTextKeys[at] = Math.min(worst.noTextKeys[at]!, retainedMass(r.mean, c, false, h * NUM_MASS_BUCKETS));
          });
        }
      }
      done += weights[si]!;
      options.onProgress?.({ sample: si, samples: samples.length, sampleName: s.name, layer: l, layers: L, done, total });
    }
    imageQueries += sampleQueries;
    sampleInfo.push({ name: s.name, numTokens: s.layout.numTokens, numImages: s.layout.numImages, imageQueries: sampleQueries, scale });
  }
  if (imageQueries === 0)
    throw new BlindsightError('NO_IMAGE_QUERIES', 'no sample has an image token: calibration measures where image queries attend');

  const round = (x: number) => Math.round(x * 1e12) / 1e12; // plenty for thresholds; keeps the JSON small
  const grid = <T>(f: (l: number, h: number) => T): T[][] => Array.from({ length: L }, (_, l) => Array.from({ length: H }, (_, h) => f(l, h)));
  const stats: CalibrationStats = {
    version: CALIBRATION_VERSION,
    threshold: t.tau,
    worstSampleThreshold: t.worstTau,
    textKeys: t.textKeys,
    bidirectionalImages,
    window,
    pinned: { first: t.pinFirst, last: t.pinLast, layers: t.pinLayers },
    buckets: [...MASS_BUCKETS],
    samples: sampleInfo,
    keptRatio,
    mass: grid((l, h) => Array.from(sums.subarray((l * H + h) * NUM_MASS_BUCKETS, (l * H + h + 1) * NUM_MASS_BUCKETS), (x) => round(x / imageQueries))),
    worstSample: {
      textKeys: grid((l, h) => Array.from(worst.textKeys.subarray((l * H + h) * 4, (l * H + h + 1) * 4), round)),
      noTextKeys: grid((l, h) => Array.from(worst.noTextKeys.subarray((l * H + h) * 4, (l * H + h + 1) * 4), round)),
    },
  };
  // Decided from the rounded, stored numbers, so rethreshold() with the same options gives the same policy.
  return new HeadPolicy(chooseCategories(stats, t), { model: options.model ?? s0.model, meta: { calibration: stats } });
}

/**
 * Re-decides a calibrated policy's categories for new thresholds, pins or textKeys from the statistics in its
 * `meta.calibration`, without touching the samples. Options left out keep the calibration's values.
 */
export function rethreshold(policy: HeadPolicy, options: ThresholdOptions = {}): HeadPolicy {
  const stats = calibrationStats(policy);
  const t = thresholdOptions({
    tau: options.tau ?? stats.threshold,
    worstTau: options.worstTau ?? (options.tau !== undefined ? undefined : stats.worstSampleThreshold),
    textKeys: options.textKeys ?? stats.textKeys,
    pinFirst: options.pinFirst ?? stats.pinned.first,
    pinLast: options.pinLast ?? stats.pinned.last,
    pinLayers: options.pinLayers ?? stats.pinned.layers,
  });
  checkPins(t, policy.numLayers);
  const next: CalibrationStats = {
    ...stats,
    threshold: t.tau,
    worstSampleThreshold: t.worstTau,
    textKeys: t.textKeys,
    pinned: { first: t.pinFirst, last: t.pinLast, layers: t.pinLayers },
  };
  return new HeadPolicy(chooseCategories(next, t), { model: policy.model, meta: { ...policy.meta, calibration: next } });
}

/** The calibration statistics of a policy, checked against its shape. Throws BAD_POLICY if it has none. */
export function calibrationStats(policy: HeadPolicy): CalibrationStats {
  if (!(policy instanceof HeadPolicy)) throw typeError('expected a HeadPolicy');
  const c = policy.meta.calibration as CalibrationStats | undefined;
  const L = policy.numLayers, H = policy.numHeads;
  const okGrid = (g: unknown, width: number) =>
    Array.isArray(g) && g.length === L && g.every((row) => Array.isArray(row) && row.length === H && row.every((x) => Array.isArray(x) && x.length === width && x.every((v) => typeof v === 'number')));
  if (typeof c !== 'object' || c === null || c.version !== CALIBRATION_VERSION)
    throw new BlindsightError('BAD_POLICY', 'the policy has no calibration statistics (meta.calibration, version 1); run `blindsight calibrate` first');
  if (!okGrid(c.mass, NUM_MASS_BUCKETS) || !okGrid(c.worstSample?.textKeys, 4) || !okGrid(c.worstSample?.noTextKeys, 4) ||
      typeof c.keptRatio?.textKeys !== 'object' || typeof c.keptRatio?.noTextKeys !== 'object' || typeof c.pinned !== 'object')
    throw new BlindsightError('BAD_POLICY', `meta.calibration does not match a ${L} x ${H} policy`);
  return c;
}

/** Categories from statistics: per head, the cheapest category that passes both thresholds (pinned layers: dense). */
export function chooseCategories(stats: CalibrationStats, options: ThresholdOptions = {}): HeadCategory[][] {
  const t = thresholdOptions(options);
  const tk = t.textKeys ? 'textKeys' : 'noTextKeys';
  const kept = stats.keptRatio[tk];
  const L = stats.mass.length;
  const pinned = pinnedLayers(t, L);
  const sparse = HEAD_CATEGORIES.filter((c) => c !== 'dense');
  return stats.mass.map((row, l) =>
    row.map((mass, h) => {
      if (pinned.has(l)) return 'dense';
      const candidates = sparse
        .map((c) => ({ c, kept: kept[c], retained: retainedMass(mass, c, t.textKeys), worst: stats.worstSample[tk][l]![h]![HEAD_CATEGORIES.indexOf(c)]! }))
        .sort((a, b) => a.kept - b.kept || b.retained - a.retained);
      return candidates.find((x) => x.retained >= t.tau && x.worst >= t.worstTau)?.c ?? 'dense';
    }),
  );
}

function pinnedLayers(t: PinOptions, numLayers: number): Set<number> {
  const out = new Set<number>(t.pinLayers ?? []);
  for (let l = 0; l < Math.min(t.pinFirst ?? 0, numLayers); l++) out.add(l);
  for (let l = Math.max(0, numLayers - (t.pinLast ?? 0)); l < numLayers; l++) out.add(l);
  return out;
}

function checkPins(t: PinOptions, numLayers: number): void {
  for (const l of t.pinLayers ?? [])
    if (l >= numLayers) throw rangeError(`pinned layer ${l} does not exist (the model has ${numLayers} layers)`);
}

function thresholdOptions(o: ThresholdOptions): Required<Omit<ThresholdOptions, 'pinLayers'>> & { pinLayers: number[] } {
  if (typeof o !== 'object' || o === null) throw typeError('options must be an object');
  const tau = o.tau ?? 0.95;
  if (typeof tau !== 'number' || !(tau >= 0 && tau <= 1)) throw rangeError(`tau must be a number in [0, 1], got ${String(tau)}`);
  const worstTau = o.worstTau ?? Math.max(0, Math.round((tau - 0.05) * 1e9) / 1e9);
  if (typeof worstTau !== 'number' || !(worstTau >= 0 && worstTau <= 1)) throw rangeError(`worstTau must be a number in [0, 1], got ${String(worstTau)}`);
  const textKeys = o.textKeys ?? true;
  if (typeof textKeys !== 'boolean') throw typeError('textKeys must be a boolean');
  const count = (v: unknown, name: string) => {
    if (v === undefined) return 0;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw rangeError(`${name} must be a non-negative integer, got ${String(v)}`);
    return v;
  };
  const pinLayers = o.pinLayers ?? [];
  if (!Array.isArray(pinLayers) || !pinLayers.every((l) => Number.isInteger(l) && l >= 0))
    throw rangeError('pinLayers must be an array of non-negative layer indices');
  return { tau, worstTau, textKeys, pinFirst: count(o.pinFirst, 'pinFirst'), pinLast: count(o.pinLast, 'pinLast'), pinLayers: [...new Set(pinLayers)].sort((a, b) => a - b) };
}

function perCategory(f: (i: number) => number): PerCategory {
  return Object.fromEntries(HEAD_CATEGORIES.map((c, i) => [c, f(i)])) as PerCategory;
}
