/**
 * What a policy costs in output accuracy: every category's attention output against dense on samples that carry
 * values (`layers.{i}.v`), as relative L2 errors over the image query rows (text rows are the same under every
 * category), per (layer, head) and for the policy per layer. So `tau` can be chosen by measured output error rather
 * than by retained attention mass.
 *
 * The errors are sums of squares (OutputErrorStats), which pool exactly over samples and heads: a head's error under
 * category c is sqrt(squaredError / squaredNorm), a layer's under the policy sqrt(sum over its heads of the error
 * under the head's category / sum of the norms). Measured by the Calibrator (outputError), here without the mass
 * pass; a calibration with outputError stores the same numbers in meta.calibration.outputError.
 */
import { HEAD_CATEGORIES, type HeadCategory } from '../core/categories.js';
import { BlindsightError, typeError } from '../core/errors.js';
import { MaskPlan } from '../core/plan.js';
import { HeadPolicy } from '../core/policy.js';
import { calibratorFor, feed, type CalibrateOptions, type CalibrationProgress } from './calibrate.js';
import { openSample, type CalibrationSample } from './samples.js';
import { perCategory, type CalibrationStats, type OutputErrorStats, type PerCategory } from './stats.js';

export interface EvaluateOptions extends Pick<CalibrateOptions, 'scale' | 'threads' | 'isa' | 'template' | 'globalSinks'> {
  /** Plan options the policy runs with; default the policy's calibration's, else textKeys true, no window. */
  textKeys?: boolean;
  bidirectionalImages?: boolean;
  window?: number | null;
  onProgress?: (p: CalibrationProgress) => void;
}

export interface LayerEvaluation {
  layer: number;
  /** Heads per category in the policy's layer. */
  counts: PerCategory;
  /** Attention pairs the layer's heads keep, relative to dense, pooled over the samples. */
  keptRatio: number;
  /** The relative L2 error of the layer's output under the policy (all heads together). */
  relativeError: number | null;
  /** The layer's error if every head used one category. */
  uniform: PerCategory;
  heads: {
    category: HeadCategory;
    /** This head's error under the policy's category. */
    relativeError: number | null;
    /** This head's error under every category. */
    perCategory: Record<HeadCategory, number | null>;
  }[];
}

export interface Evaluation {
  model?: string;
  numLayers: number;
  numHeads: number;
  textKeys: boolean;
  bidirectionalImages: boolean;
  window: number | null;
  samples: { name: string; numTokens: number; numImages: number }[];
  /** The whole model's output error under the policy (every layer and head pooled). */
  relativeError: number | null;
  keptRatio: number;
  layers: LayerEvaluation[];
  /** The sums the errors come from (policySvg's colorBy 'error' reads them). */
  outputError: OutputErrorStats;
}

/** sqrt(err / norm): 0 when both are 0, null when only the norm is (no reference to be relative to). */
export function relativeL2(squaredError: number, squaredNorm: number): number | null {
  if (squaredNorm > 0) return Math.sqrt(squaredError / squaredNorm);
  return squaredError === 0 ? 0 : null;
}

/**
 * A policy's errors from measured output errors: per head under each category, per layer under the policy and under
 * each category alone. keptRatio: per layer (default: from the policy's calibration statistics when it has them).
 */
export function evaluationOf(policy: HeadPolicy, errors: OutputErrorStats, keptRatio?: (layer: number) => number): Omit<Evaluation, 'samples' | 'bidirectionalImages' | 'window'> {
  if (!(policy instanceof HeadPolicy)) throw typeError('expected a HeadPolicy');
  const L = policy.numLayers, H = policy.numHeads;
  if (errors.squaredNorm.length !== L || errors.squaredNorm.some((r) => r.length !== H))
    throw new BlindsightError('SHAPE_MISMATCH', `the output errors are of a ${errors.squaredNorm.length}-layer model; the policy has ${L} x ${H}`);
  const stats = policy.meta.calibration as CalibrationStats | undefined;
  const kept = keptRatio ?? ((l: number) => {
    const k = stats?.keptRatio?.[errors.textKeys ? 'textKeys' : 'noTextKeys'];
    return k ? policy.layer(l).reduce((a, c) => a + k[c], 0) / H : NaN;
  });
  let allErr = 0, allNorm = 0, allKept = 0;
  const layers = Array.from({ length: L }, (_, l): LayerEvaluation => {
    const cats = policy.layer(l);
    let err = 0, norm = 0;
    const uniformErr = [0, 0, 0, 0];
    let rows = 0;
    const heads = cats.map((c, h) => {
      const e = errors.squaredError[l]![h]!, n = errors.squaredNorm[l]![h]!;
      err += e[HEAD_CATEGORIES.indexOf(c)]!;
      norm += n;
      rows += errors.rows[l]![h]!;
      HEAD_CATEGORIES.forEach((_, ci) => (uniformErr[ci]! += e[ci]!));
      // A head no observation measured has no error to report (0 / 0 is not a perfect score).
      const rel = (x: number) => (errors.rows[l]![h]! > 0 ? relativeL2(x, n) : null);
      return {
        category: c,
        relativeError: rel(e[HEAD_CATEGORIES.indexOf(c)]!),
        perCategory: Object.fromEntries(HEAD_CATEGORIES.map((k, ci) => [k, rel(e[ci]!)])) as Record<HeadCategory, number | null>,
      };
    });
    allErr += err;
    allNorm += norm;
    const k = kept(l);
    allKept += k;
    const counts = perCategory(() => 0);
    for (const c of cats) counts[c]++;
    return {
      layer: l,
      counts,
      keptRatio: k,
      relativeError: rows > 0 ? relativeL2(err, norm) : null,
      uniform: perCategory((ci) => (rows > 0 ? relativeL2(uniformErr[ci]!, norm) : null) ?? NaN),
      heads,
    };
  });
  return {
    model: policy.model, numLayers: L, numHeads: H, textKeys: errors.textKeys, relativeError: relativeL2(allErr, allNorm), keptRatio: allKept / L,
    layers, outputError: errors,
  };
}

/** Measures a policy's output errors on samples (safetensors paths or CalibrationSample objects) that carry v. */
export async function evaluate(policy: HeadPolicy, inputs: readonly (string | CalibrationSample)[], options: EvaluateOptions = {}): Promise<Evaluation> {
  if (!(policy instanceof HeadPolicy)) throw typeError('evaluate expects a HeadPolicy');
  if (!Array.isArray(inputs) || inputs.length === 0) throw typeError('evaluate needs at least one sample');
  const stats = policy.meta.calibration as CalibrationStats | undefined;
  const textKeys = options.textKeys ?? stats?.textKeys ?? true;
  const bidirectionalImages = options.bidirectionalImages ?? stats?.bidirectionalImages ?? false;
  const window = options.window !== undefined ? options.window : stats?.window ?? null;
  const opened: CalibrationSample[] = [];
  try {
    for (const s of inputs) opened.push(typeof s === 'string' ? await openSample(s, options) : s);
    for (const s of opened) {
      if (s.numLayers !== policy.numLayers || s.numHeads !== policy.numHeads)
        throw new BlindsightError('SHAPE_MISMATCH', `${s.name} has ${s.numLayers} layers x ${s.numHeads} heads; the policy has ${policy.numLayers} x ${policy.numHeads}`);
    }
    const cal = calibratorFor(opened, { bidirectionalImages, window, outputError: true, mass: false, threads: options.threads, isa: options.isa }, textKeys);
    try {
      await feed(cal, opened, options);
      // Kept pairs of each layer's heads, pooled over the samples' layouts.
      const pairs = opened.map((s) => {
        const plan = MaskPlan.build(s.layout, { textKeys, bidirectionalImages, window });
        try {
          return Array.from({ length: policy.numLayers }, (_, l) => {
            const st = plan.stats(policy.layer(l));
            return [st.visiblePairs, st.denseCausalPairs] as const;
          });
        } finally {
          plan.dispose();
        }
      });
      const kept = (l: number) => pairs.reduce((a, p) => a + p[l]![0], 0) / pairs.reduce((a, p) => a + p[l]![1], 0);
      const e = evaluationOf(policy, cal.outputErrors(), kept);
      return {
        ...e,
        bidirectionalImages,
        window,
        samples: opened.map((s) => ({ name: s.name, numTokens: s.layout.numTokens, numImages: s.layout.numImages })),
      };
    } finally {
      cal.dispose();
    }
  } finally {
    await Promise.all(opened.filter((s, i) => typeof inputs[i] === 'string' && s.close).map((s) => s.close!()));
  }
}

/** The evaluation as a text table: one row per layer, with the worst head. */
export function evaluationTable(e: Evaluation): string {
  const f = (x: number | null) => (x === null || Number.isNaN(x) ? '-' : x < 1e-4 && x > 0 ? x.toExponential(1) : x.toFixed(4));
  const header = ['layer', 'dense', 'sink', 'intra', 'intra+s', 'kept', 'error', 'all sink', 'all intra', 'all intra+s', 'worst head'];
  const rows = e.layers.map((l) => {
    let worst = -1;
    l.heads.forEach((h, i) => {
      if ((h.relativeError ?? -1) > (worst < 0 ? -1 : l.heads[worst]!.relativeError ?? -1)) worst = i;
    });
    const w = worst >= 0 && (l.heads[worst]!.relativeError ?? 0) > 0 ? `${worst} ${l.heads[worst]!.category} ${f(l.heads[worst]!.relativeError)}` : '-';
    return [String(l.layer), String(l.counts.dense), String(l.counts.sink), String(l.counts['intra-image']), String(l.counts['intra-image+sink']),
      `${(100 * l.keptRatio).toFixed(1)}%`, f(l.relativeError), f(l.uniform.sink), f(l.uniform['intra-image']), f(l.uniform['intra-image+sink']), w];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((x, i) => (i === r.length - 1 ? x : x.padStart(widths[i]!))).join('  ');
  return [
    `relative L2 error of the attention output against dense, over image query rows (${e.samples.length} sample(s), textKeys ${e.textKeys})`,
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    `model: error ${f(e.relativeError)}, kept ${(100 * e.keptRatio).toFixed(1)}% of dense attention pairs`,
  ].join('\n');
}
