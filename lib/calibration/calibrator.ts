/**
 * The streaming calibrator: a model's head statistics accumulated from single-layer observations of sample prompts,
 * the way a runtime produces them — one layer's q and k (and, for output errors, v) at a time, in any layer order,
 * over any number of prompts, from concurrent promises. Memory is the statistics (layers x heads x buckets) plus one
 * observation's working set; nothing is kept per prompt but a line of metadata (its name, tokens, images, scale).
 *
 *     const cal = new Calibrator({ numLayers: 28, numHeads: 28, numKvHeads: 4, headDim: 128 });
 *     for (const prompt of prompts) {
 *       const hook = PromptAttention.create(prompt.layout, cal, { numHeads: 28, numKvHeads: 4, headDim: 128 });
 *       await runModel(prompt, (i, q, k, v) => hook.layer(i).forward(q, k, v));  // dense attention, observed
 *     }
 *     const policy = cal.policy({ tau: 0.95 });
 *
 * The statistics are native (native/cpu/mass/calibrator.h), shared with the C ABI's blindsight_calibrator.
 */
import { PROMPT_OBSERVER, type ForwardObservation, type PromptObserver } from '../attention/hook.js';
import { checkGqa, dtypeOption, headCount, isaOption, positiveInt, tensor, threadsOption, type CpuIsa, type Tensor } from '../attention/args.js';
import { resolveStrides, tensorExtent, type CallStrides } from '../attention/ranges.js';
import { DTYPE_CODES, type DType } from '../core/dtype.js';
import { BlindsightError, callNative, fromNative, rangeError, show, typeError } from '../core/errors.js';
import { native, type NativeCalibrationSummary, type NativeCalibratorHandle, type NativeObserveArgs } from '../core/native.js';
import { MaskPlan } from '../core/plan.js';
import { HeadPolicy } from '../core/policy.js';
import { MASS_BUCKETS, NUM_MASS_BUCKETS } from './mass.js';
import {
  CALIBRATION_VERSION,
  checkPins,
  chooseCategories,
  perCategory,
  thresholdOptions,
  type CalibrationStats,
  type OutputErrorStats,
  type ResolvedThresholds,
  type ThresholdOptions,
} from './stats.js';

export interface CalibratorOptions {
  numLayers: number;
  /** Query heads per layer. */
  numHeads: number;
  numKvHeads: number;
  /** Any head dim in [1, 1024] for the attention mass; output errors need one attention takes (a multiple of 8 in [8, 512]). */
  headDim: number;
  /**
   * The base mask of the model (must match how the policy will be run): the plans of observed prompts must be built
   * with these (BAD_OPTION otherwise).
   */
  bidirectionalImages?: boolean;
  window?: number | null;
  /**
   * Whether sparse heads will see text keys at inference: the default of policy(), and the plan option the output
   * errors are measured under (observations with v need plans built with it). Default true.
   */
  textKeys?: boolean;
  /** Score scale of observations that name none; default 1/sqrt(headDim). */
  scale?: number;
  /** Model name recorded in policies. */
  model?: string;
  /**
   * Also measure each category's attention output error against dense on observations that carry v (default false):
   * three sparse attention calls per observation, about 0.4 of a dense one on multi-image prompts, and two outputs of
   * the layer's size in memory.
   */
  outputError?: boolean;
  /** Run the attention-mass pass (default true). Without it the calibrator only measures output errors (evaluate). */
  mass?: boolean;
  threads?: number;
  isa?: CpuIsa;
}

export interface ObserveArgs {
  /** The layer these tensors belong to, in [0, numLayers). */
  layer: number;
  /** The prompt's plan. One plan per prompt: the calibrator tells prompts apart by their plans. */
  plan: MaskPlan;
  /** [numTokens, numHeads, headDim] post-RoPE queries, token-major (as attention() takes them). */
  q: Tensor;
  /** [numTokens, numKvHeads, headDim] post-RoPE keys. */
  k: Tensor;
  /** [numTokens, numKvHeads, headDim] values: measures output errors (needs outputError). */
  v?: Tensor;
  /** Element type of q, k and v (default 'f32'). */
  dtype?: DType;
  /**
   * Strides of q, k and v laid out otherwise than packed token-major ({ token, head } in elements, as attention()
   * takes them, e.g. a head-major KV cache). Strided tensors are gathered into packed copies for the pass.
   */
  strides?: Pick<CallStrides, 'q' | 'k' | 'v'>;
  /** The dense attention output of q, k, v ([numTokens, numHeads, headDim] f32) when the caller has it already. */
  out?: Float32Array;
  /** Score scale; default the calibrator's. */
  scale?: number;
  /** The prompt's name in the policy's statistics (taken at its first observation; default `sample <i>`). */
  sample?: string;
  threads?: number;
  isa?: CpuIsa;
}

export type CalibratorPolicyOptions = ThresholdOptions & { model?: string };

/** Accumulates per-(layer, head) attention statistics from observations, then decides policies from them. */
export class Calibrator implements PromptObserver {
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly options: Readonly<{
    bidirectionalImages: boolean;
    window: number | null;
    textKeys: boolean;
    scale: number | undefined;
    model: string | undefined;
    outputError: boolean;
    mass: boolean;
    threads: number;
    isa: CpuIsa | null;
  }>;
  readonly [PROMPT_OBSERVER] = true;
  #handle: NativeCalibratorHandle | null;

  constructor(options: CalibratorOptions) {
    if (typeof options !== 'object' || options === null) throw typeError('Calibrator expects an options object');
    this.numLayers = positiveInt(options.numLayers, 'numLayers', 1 << 20);
    this.numHeads = headCount(options.numHeads, 'numHeads');
    this.numKvHeads = headCount(options.numKvHeads, 'numKvHeads');
    checkGqa(this.numHeads, this.numKvHeads);
    this.headDim = positiveInt(options.headDim, 'headDim', 1024, 'BAD_HEAD_DIM');
    const flag = (v: unknown, name: string, dflt: boolean) => {
      if (v === undefined) return dflt;
      if (typeof v !== 'boolean') throw typeError(`${name} must be a boolean, got ${show(v)}`);
      return v;
    };
    const outputError = flag(options.outputError, 'outputError', false);
    const mass = flag(options.mass, 'mass', true);
    if (outputError && (this.headDim % 8 !== 0 || this.headDim > 512))
      throw rangeError(`output errors run attention, which takes a headDim that is a multiple of 8 in [8, 512]; got ${this.headDim}`, 'BAD_HEAD_DIM');
    if (!mass && !outputError) throw new BlindsightError('BAD_OPTION', 'a calibrator with mass: false must measure output errors (outputError: true)');
    const window = options.window ?? null;
    if (window !== null && (typeof window !== 'number' || !Number.isSafeInteger(window) || window < 1 || window > 2 ** 31 - 1))
      throw rangeError(`window must be null or an integer >= 1, got ${String(window)}`, 'BAD_WINDOW');
    if (options.model !== undefined && typeof options.model !== 'string') throw typeError('model must be a string');
    this.options = Object.freeze({
      bidirectionalImages: flag(options.bidirectionalImages, 'bidirectionalImages', false),
      window,
      textKeys: flag(options.textKeys, 'textKeys', true),
      scale: scaleArg(options.scale),
      model: options.model,
      outputError,
      mass,
      threads: threadsOption(options.threads),
      isa: isaOption(options.isa),
    });
    const o = this.options;
    const addon = native();
    this.#handle = callNative(() => new addon.NativeCalibrator({
      numLayers: this.numLayers, numHeads: this.numHeads, numKvHeads: this.numKvHeads, headDim: this.headDim,
      textKeys: o.textKeys, bidirectionalImages: o.bidirectionalImages, window: o.window ?? 0, scale: o.scale ?? 0,
      mass: o.mass, outputError: o.outputError,
    }));
  }

  /** Measures one layer of one prompt, off the main thread; concurrent observations are safe. */
  async observe(args: ObserveArgs): Promise<void> {
    const a = this.#prepare(args);
    try {
      await this.#live().observeAsync(a);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** The same on the calling thread. */
  observeSync(args: ObserveArgs): void {
    const a = this.#prepare(args);
    callNative(() => this.#live().observeSync(a));
  }

  /**
   * The policy these observations give: per head, the cheapest category that passes the thresholds, with the
   * statistics in `meta.calibration` (so `rethreshold` works on it). textKeys defaults to the calibrator's. Throws
   * NOT_OBSERVED until every layer has been observed, NO_IMAGE_QUERIES if a layer saw no image token.
   */
  policy(options: CalibratorPolicyOptions = {}): HeadPolicy {
    if (typeof options !== 'object' || options === null) throw typeError('options must be an object');
    const { model, ...thresholds } = options;
    if (model !== undefined && typeof model !== 'string') throw typeError('model must be a string');
    const t = thresholdOptions({ ...thresholds, textKeys: thresholds.textKeys ?? this.options.textKeys });
    checkPins(t, this.numLayers);
    const stats = this.stats(t);
    return new HeadPolicy(chooseCategories(stats, t), { model: model ?? this.options.model, meta: { calibration: stats } });
  }

  /** The statistics a policy stores, for the given thresholds (defaults as policy()). Throws as policy() does. */
  stats(options: ThresholdOptions = {}): CalibrationStats {
    const t: ResolvedThresholds = thresholdOptions({ ...options, textKeys: options.textKeys ?? this.options.textKeys });
    const s = callNative(() => this.#live().summary(true));
    const L = s.numLayers, H = s.numHeads;
    const stats: CalibrationStats = {
      version: CALIBRATION_VERSION,
      threshold: t.tau,
      worstSampleThreshold: t.worstTau,
      textKeys: t.textKeys,
      bidirectionalImages: this.options.bidirectionalImages,
      window: this.options.window,
      pinned: { first: t.pinFirst, last: t.pinLast, layers: t.pinLayers },
      buckets: [...MASS_BUCKETS],
      samples: s.samples,
      keptRatio: { textKeys: perCategory((i) => s.keptTextKeys[i]!), noTextKeys: perCategory((i) => s.keptNoTextKeys[i]!) },
      mass: grid(s.mass, L, H, NUM_MASS_BUCKETS),
      worstSample: { textKeys: grid(s.worstTextKeys, L, H, 4), noTextKeys: grid(s.worstNoTextKeys, L, H, 4) },
    };
    if (s.undefinedRows.some((x) => x > 0)) stats.undefinedRows = grid(s.undefinedRows, L, H, 0);
    if (s.hasOutputError) stats.outputError = errorStats(s);
    return stats;
  }

  /** The output errors measured so far (observations with v). Throws BAD_OPTION unless the calibrator measures them. */
  outputErrors(): OutputErrorStats {
    if (!this.options.outputError) throw new BlindsightError('BAD_OPTION', 'this calibrator does not measure output errors (outputError: false)');
    return errorStats(callNative(() => this.#live().summary(false)));
  }

  /** Releases the native statistics now; observations already running finish. Later calls are DISPOSED. */
  dispose(): void {
    this.#handle?.dispose();
    this.#handle = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** @internal PromptAttention's check of a hook built on this calibrator. */
  checkPrompt(plan: MaskPlan, shape: { numHeads: number; numKvHeads: number; headDim: number }): void {
    this.#live();
    for (const key of ['numHeads', 'numKvHeads', 'headDim'] as const)
      if (shape[key] !== this[key])
        throw new BlindsightError('SHAPE_MISMATCH', `the hook has ${key} ${shape[key]}; the calibrator's model has ${this[key]}`);
    this.#checkPlan(plan);
  }

  /** @internal A hook's forward, observed (with v and the dense output when output errors are measured). */
  observeForward(f: ForwardObservation): Promise<void> {
    return this.observe(this.#forwardArgs(f));
  }

  /** @internal */
  observeForwardSync(f: ForwardObservation): void {
    this.observeSync(this.#forwardArgs(f));
  }

  #forwardArgs(f: ForwardObservation): ObserveArgs {
    const errors = this.options.outputError;
    // The scores the model computed: the hook's scale (its default 1/sqrt(headDim)), whatever the calibrator's default.
    const scale = f.scale === undefined || f.scale === 0 ? 1 / Math.sqrt(this.headDim) : f.scale;
    return { layer: f.layer, plan: f.plan, q: f.q, k: f.k, v: errors ? f.v : undefined, out: errors ? f.out : undefined, scale };
  }

  #live(): NativeCalibratorHandle {
    if (!this.#handle) throw new BlindsightError('DISPOSED', 'the calibrator was disposed');
    return this.#handle;
  }

  #checkPlan(plan: unknown): asserts plan is MaskPlan {
    if (!(plan instanceof MaskPlan)) throw typeError('plan must be a MaskPlan (see MaskPlan.build)');
    const o = this.options;
    if (plan.options.bidirectionalImages !== o.bidirectionalImages || plan.options.window !== o.window)
      throw new BlindsightError(
        'BAD_OPTION',
        `the plan's base mask (bidirectionalImages ${plan.options.bidirectionalImages}, window ${plan.options.window}) is not the calibrator's ` +
          `(bidirectionalImages ${o.bidirectionalImages}, window ${o.window}): build the prompt's plan with the calibrator's mask options`,
      );
  }

  #prepare(a: ObserveArgs): NativeObserveArgs {
    if (typeof a !== 'object' || a === null) throw typeError('observe expects an arguments object');
    this.#live();
    if (typeof a.layer !== 'number' || !Number.isInteger(a.layer) || a.layer < 0 || a.layer >= this.numLayers)
      throw rangeError(`layer must be an integer in [0, ${this.numLayers - 1}], got ${show(a.layer)}`);
    this.#checkPlan(a.plan);
    const dtype = dtypeOption(a.dtype, 'dtype');
    const n = a.plan.layout.numTokens;
    const H = this.numHeads, KV = this.numKvHeads, D = this.headDim;
    const shape = `the calibrator's ${H} / ${KV} heads of dim ${D}`;
    if (a.strides !== undefined && (typeof a.strides !== 'object' || a.strides === null))
      throw typeError(`strides must be an object of { token, head } per tensor, got ${show(a.strides)}`);
    const st = a.strides ?? {};
    // A strided tensor: checked as attention() checks it, then gathered into a packed copy.
    const input = (x: unknown, name: 'q' | 'k' | 'v', heads: number, formula: string): Tensor => {
      if (st[name] === undefined) return tensor(x, dtype, name, n * heads * D, formula, n);
      const s = resolveStrides(st[name], n, heads, D, name);
      const src = tensor(x, dtype, name, -1, `the span of strides.${name}`, n, tensorExtent(n, heads, D, s));
      const packed = new (src.constructor as Float32ArrayConstructor | Uint16ArrayConstructor)(n * heads * D);
      for (let t = 0; t < n; t++)
        for (let h = 0; h < heads; h++) packed.set(src.subarray(t * s.token + h * s.head, t * s.token + h * s.head + D), (t * heads + h) * D);
      return packed;
    };
    const q = input(a.q, 'q', H, `numTokens*numHeads*headDim for ${shape}`);
    const k = input(a.k, 'k', KV, `numTokens*numKvHeads*headDim for ${shape}`);
    let v: Tensor | undefined;
    if (a.v !== undefined) {
      if (!this.options.outputError)
        throw new BlindsightError('BAD_OPTION', 'v is only read by a calibrator that measures output errors (new Calibrator({ outputError: true }))');
      if (a.plan.options.textKeys !== this.options.textKeys)
        throw new BlindsightError('BAD_OPTION', `output errors are measured with textKeys ${this.options.textKeys}, but the plan has textKeys ${a.plan.options.textKeys}`);
      v = input(a.v, 'v', KV, `numTokens*numKvHeads*headDim for ${shape}`);
    }
    if (a.out !== undefined) {
      if (v === undefined) throw new BlindsightError('BAD_OPTION', 'out (the dense output) is only read with v, for output errors');
      if (!(a.out instanceof Float32Array)) throw typeError('out must be a Float32Array (the dense attention output in f32)');
      if (a.out.length !== n * H * D)
        throw new BlindsightError('SHAPE_MISMATCH', `out has ${a.out.length} elements; expected numTokens*numHeads*headDim = ${n * H * D}`);
    }
    if (!this.options.mass && v === undefined)
      throw new BlindsightError('BAD_OPTION', 'this calibrator measures output errors only (mass: false): every observation needs v');
    if (a.sample !== undefined && typeof a.sample !== 'string') throw typeError('sample must be a string (the prompt\'s name)');
    return {
      layer: a.layer, plan: a.plan.handle, q, k, v, denseOut: a.out, inputDtype: DTYPE_CODES[dtype],
      scale: scaleArg(a.scale) ?? this.options.scale ?? 0, sample: a.sample,
      threads: a.threads === undefined ? this.options.threads : threadsOption(a.threads),
      isa: a.isa === undefined ? this.options.isa : isaOption(a.isa),
    };
  }
}

/** A scale as the calibrator records it: undefined (the default) or a finite f32 number; 0 also means the default. */
function scaleArg(v: unknown): number | undefined {
  if (v === undefined || v === 0) return undefined;
  if (typeof v !== 'number') throw typeError(`scale must be a number, got ${typeof v}`);
  if (!Number.isFinite(Math.fround(v))) throw rangeError(`scale must be a finite f32 number, got ${String(v)}`);
  return v;
}

/** [L][H] (width 0) or [L][H][width] nested arrays of a flat [L][H][width] array. */
function grid<W extends number>(a: Float64Array, L: number, H: number, width: W): W extends 0 ? number[][] : number[][][];
function grid(a: Float64Array, L: number, H: number, width: number): number[][] | number[][][] {
  return Array.from({ length: L }, (_, l) =>
    Array.from({ length: H }, (_, h) => (width === 0 ? a[l * H + h]! : Array.from(a.subarray((l * H + h) * width, (l * H + h + 1) * width)))),
  ) as number[][] | number[][][];
}

function errorStats(s: NativeCalibrationSummary): OutputErrorStats {
  const L = s.numLayers, H = s.numHeads;
  return {
    textKeys: s.errorTextKeys,
    observations: Array.from(s.errorObservations),
    rows: grid(s.errorRows, L, H, 0),
    squaredError: grid(s.squaredError, L, H, 4),
    squaredNorm: grid(s.squaredNorm, L, H, 0),
  };
}
