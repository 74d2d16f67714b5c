/**
 * Head calibration from captured samples: decides each (layer, head)'s BlindSight category from where its attention
 * mass really goes on sample prompts (the paper's per-model, prompt-agnostic decision), without ever forming an N x N
 * matrix.
 *
 * calibrate() is a loop that feeds the streaming Calibrator (calibrator.ts) every layer of every sample, reading a
 * layer from disk while the one before is measured; the statistics and the choice are the calibrator's, so a
 * calibration from files and one observed in a running model agree. For every sample and layer the native
 * attention-mass pass splits each image query's dense row into seven buckets (MASS_BUCKETS); a category's retained
 * mass is a fixed sum of buckets (retainedMass), so averaging buckets averages retained mass exactly. The statistics
 * go into the policy's `meta.calibration`, so `rethreshold` can re-decide without recomputing (stats.ts).
 */
import type { CpuIsa } from '../attention/attention.js';
import { BlindsightError, typeError } from '../core/errors.js';
import { MaskPlan } from '../core/plan.js';
import type { HeadPolicy } from '../core/policy.js';
import { Calibrator } from './calibrator.js';
import { openSample, type CalibrationSample, type OpenSampleOptions } from './samples.js';
import { checkPins, thresholdOptions, type ThresholdOptions } from './stats.js';

export {
  CALIBRATION_VERSION,
  calibrationStats,
  chooseCategories,
  outputErrorStats,
  rethreshold,
  type CalibrationStats,
  type OutputErrorStats,
  type PinOptions,
  type ThresholdOptions,
} from './stats.js';

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
  /**
   * Also measure each category's attention output error against dense (meta.calibration.outputError); every sample
   * must carry v (`layers.{i}.v`). Default false.
   */
  outputError?: boolean;
  threads?: number;
  isa?: CpuIsa;
  onProgress?: (p: CalibrationProgress) => void;
}

/** Calibrates a policy from samples (safetensors paths or CalibrationSample objects). */
export async function calibrate(inputs: readonly (string | CalibrationSample)[], options: CalibrateOptions = {}): Promise<HeadPolicy> {
  if (!Array.isArray(inputs) || inputs.length === 0) throw typeError('calibrate needs at least one sample');
  const thresholds = thresholdOptions(options);
  const opened: CalibrationSample[] = [];
  try {
    for (const s of inputs) opened.push(typeof s === 'string' ? await openSample(s, options) : s);
    const cal = calibratorFor(opened, options, thresholds.textKeys);
    try {
      checkPins(thresholds, cal.numLayers);
      await feed(cal, opened, options);
      return cal.policy({ ...thresholds, model: options.model ?? opened[0]!.model });
    } finally {
      cal.dispose();
    }
  } finally {
    await Promise.all(opened.filter((s, i) => typeof inputs[i] === 'string' && s.close).map((s) => s.close!()));
  }
}

/** A calibrator for the samples' model: they must share its shape (layers, heads, head dim). */
export function calibratorFor(
  samples: readonly CalibrationSample[],
  options: Pick<CalibrateOptions, 'bidirectionalImages' | 'window' | 'model' | 'outputError' | 'threads' | 'isa'> & { mass?: boolean },
  textKeys: boolean,
): Calibrator {
  const s0 = samples[0]!;
  for (const s of samples) {
    for (const key of ['numLayers', 'numHeads', 'numKvHeads', 'headDim'] as const)
      if (s[key] !== s0[key])
        throw new BlindsightError('SHAPE_MISMATCH', `sample ${s.name} has ${key} ${s[key]} but ${s0.name} has ${s0[key]}; calibrate one model at a time`);
    if (options.outputError && !s.hasValues)
      throw new BlindsightError('MISSING_TENSOR', `${s.name} has no layers.{i}.v tensors; output errors need the values of every layer`);
  }
  return new Calibrator({
    numLayers: s0.numLayers, numHeads: s0.numHeads, numKvHeads: s0.numKvHeads, headDim: s0.headDim, textKeys,
    bidirectionalImages: options.bidirectionalImages, window: options.window, model: options.model ?? s0.model,
    outputError: options.outputError, mass: options.mass, threads: options.threads, isa: options.isa,
  });
}

/** Observes every layer of every sample, one layer in memory while the next is read. */
export async function feed(cal: Calibrator, samples: readonly CalibrationSample[], options: Pick<CalibrateOptions, 'scale' | 'onProgress'>): Promise<void> {
  const { bidirectionalImages, window, textKeys } = cal.options;
  const plans = samples.map((s) => MaskPlan.build(s.layout, { textKeys, bidirectionalImages, window }));
  try {
    const weights = plans.map((p) => p.stats('dense').perCategory[0]!.visiblePairs);
    const L = cal.numLayers;
    const total = weights.reduce((a, b) => a + b, 0) * L;
    const values = cal.options.outputError;
    let done = 0;
    for (let si = 0; si < samples.length; si++) {
      const s = samples[si]!;
      const scale = options.scale ?? s.scale;
      let next: ReturnType<CalibrationSample['readLayer']> | null = s.readLayer(0, values);
      for (let l = 0; l < L; l++) {
        const cur = await next!;
        next = l + 1 < L ? s.readLayer(l + 1, values) : null;
        next?.catch(() => undefined); // a failed read surfaces when it is awaited
        await cal.observe({ layer: l, plan: plans[si]!, q: cur.q, k: cur.k, v: values ? cur.v : undefined, dtype: s.dtype, scale, sample: s.name });
        done += weights[si]!;
        options.onProgress?.({ sample: si, samples: samples.length, sampleName: s.name, layer: l, layers: L, done, total });
      }
    }
  } finally {
    for (const p of plans) p.dispose();
  }
}
