/**
 * A calibrated policy's statistics (`meta.calibration`) and the category choice made from them. The choice itself is
 * native (native/cpu/mass/calibrator.cpp), the one implementation the TypeScript layer and the C ABI share: per head,
 * the category with the fewest kept attention FLOPs whose retained mass, averaged over the image queries of all
 * samples, is at least `tau`, and whose worst sample (that sample's own average) is at least `worstTau`; dense always
 * qualifies, pinned layers stay dense. It reads the stored (rounded) numbers, so `rethreshold` with the same options
 * gives the same policy as the calibration did.
 */
import { HEAD_CATEGORIES, type HeadCategory } from '../core/categories.js';
import { BlindsightError, callNative, rangeError, typeError } from '../core/errors.js';
import { native } from '../core/native.js';
import { HeadPolicy } from '../core/policy.js';
import { NUM_MASS_BUCKETS } from './mass.js';

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

export type PerCategory = Record<HeadCategory, number>;

/**
 * Each category's attention output against dense, over the image query rows of the observations that carried v
 * (text rows are the same under every category). Sums of squares, so they pool over samples and heads: a head's
 * relative L2 error under category c is sqrt(squaredError[l][h][c] / squaredNorm[l][h]), and a layer's under a policy
 * sqrt(sum over h of squaredError[l][h][c_h] / sum over h of squaredNorm[l][h]).
 */
export interface OutputErrorStats {
  /** The plan option the sparse categories ran with. */
  textKeys: boolean;
  /** [layer]: observations with v. */
  observations: number[];
  /** [layer][head]: image query rows summed (rows not finite under some category are left out). */
  rows: number[][];
  /** [layer][head][category] (HEAD_CATEGORIES order; dense is 0). */
  squaredError: number[][][];
  /** [layer][head]: the dense output's squared L2 norm over the same rows. */
  squaredNorm: number[][];
}

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
  /**
   * [layer][head]: image query rows left out of `mass` because their softmax is undefined (a NaN or an infinity in the
   * q row, or a NaN or +inf score); present only when some row was.
   */
  undefinedRows?: number[][];
  /** Present when the calibration measured output errors (observations with v). */
  outputError?: OutputErrorStats;
}

export type ResolvedThresholds = Required<Omit<ThresholdOptions, 'pinLayers'>> & { pinLayers: number[] };

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

/** The output errors a policy's calibration measured, checked against its shape; undefined when it measured none. */
export function outputErrorStats(stats: CalibrationStats, numLayers: number, numHeads: number): OutputErrorStats | undefined {
  const e = stats.outputError;
  if (e === undefined) return undefined;
  const grid = (g: unknown, width: number) =>
    Array.isArray(g) && g.length === numLayers && g.every((row) => Array.isArray(row) && row.length === numHeads &&
      row.every((x) => (width === 0 ? typeof x === 'number' : Array.isArray(x) && x.length === width && x.every((v) => typeof v === 'number'))));
  if (typeof e !== 'object' || e === null || typeof e.textKeys !== 'boolean' || !grid(e.rows, 0) || !grid(e.squaredNorm, 0) || !grid(e.squaredError, 4))
    throw new BlindsightError('BAD_POLICY', `meta.calibration.outputError does not match a ${numLayers} x ${numHeads} policy`);
  return e;
}

/** Categories from statistics: per head, the cheapest category that passes both thresholds (pinned layers: dense). */
export function chooseCategories(stats: CalibrationStats, options: ThresholdOptions = {}): HeadCategory[][] {
  const t = thresholdOptions(options);
  const tk = t.textKeys ? 'textKeys' : 'noTextKeys';
  const L = stats.mass.length, H = L > 0 ? stats.mass[0]!.length : 0;
  if (L === 0 || H === 0) throw new BlindsightError('BAD_POLICY', 'calibration statistics need at least one layer and head');
  const mass = Float64Array.from(stats.mass.flat(2));
  const worst = Float64Array.from(stats.worstSample[tk].flat(2));
  const kept = Float64Array.from(HEAD_CATEGORIES, (c) => stats.keptRatio[tk][c]);
  const pins = pinnedLayers(t, L);
  const pinned = Uint8Array.from({ length: L }, (_, l) => (pins.has(l) ? 1 : 0));
  const codes = callNative(() =>
    native().chooseCategories({ numLayers: L, numHeads: H, mass, worst, kept, tau: t.tau, worstTau: t.worstTau, textKeys: t.textKeys, pinned }),
  );
  return Array.from({ length: L }, (_, l) => Array.from(codes.subarray(l * H, (l + 1) * H), (c) => HEAD_CATEGORIES[c]!));
}

export function pinnedLayers(t: PinOptions, numLayers: number): Set<number> {
  const out = new Set<number>(t.pinLayers ?? []);
  for (let l = 0; l < Math.min(t.pinFirst ?? 0, numLayers); l++) out.add(l);
  for (let l = Math.max(0, numLayers - (t.pinLast ?? 0)); l < numLayers; l++) out.add(l);
  return out;
}

export function checkPins(t: PinOptions, numLayers: number): void {
  for (const l of t.pinLayers ?? [])
    if (l >= numLayers) throw rangeError(`pinned layer ${l} does not exist (the model has ${numLayers} layers)`);
}

export function thresholdOptions(o: ThresholdOptions): ResolvedThresholds {
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

export function perCategory(f: (i: number) => number): PerCategory {
  return Object.fromEntries(HEAD_CATEGORIES.map((c, i) => [c, f(i)])) as PerCategory;
}
