/**
 * The per-prompt attention hook for runtimes that run a model layer by layer: built once per prompt from the
 * prompt's layout and the model's head policy, it plans the mask once and then serves every layer's attention call
 * with that layer's head categories, keeping count of the FLOPs the sparse masks saved.
 */
import { attention, attentionSync, type AttentionArgs, type AttentionResult, type CpuIsa } from './attention.js';
import { checkGqa } from './args.js';
import type { HeadCategory } from '../core/categories.js';
import { BlindsightError, typeError, rangeError } from '../core/errors.js';
import { Layout } from '../core/layout.js';
import { MaskPlan, type PlanOptions, type PlanStats } from '../core/plan.js';
import { HeadPolicy } from '../core/policy.js';

export interface PromptAttentionOptions extends PlanOptions {
  /** Query heads per layer; must equal the policy's numHeads. */
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Score scale; default 1/sqrt(headDim). */
  scale?: number;
  /** Threads per call (default: the pool's size). */
  threads?: number;
  /** Force a CPU kernel level. */
  isa?: CpuIsa;
  /** Every forward also returns the log-sum-exp (default false). */
  returnLse?: boolean;
}

/** Per-call extras: caller-owned outputs (e.g. a slice of the runtime's own activation buffer). */
export interface ForwardOutputs {
  out?: Float32Array;
  lse?: Float32Array;
}

/**
 * FLOP accounting. One visible (query, key) pair of one head costs 4·headDim FLOPs: a headDim-long dot product for
 * the score and a headDim-long multiply-add into the output.
 */
export interface FlopCounts {
  /** What dense causal attention would cost. */
  denseFlops: number;
  /** What the mask keeps (visible pairs). */
  keptFlops: number;
  /** denseFlops - keptFlops. */
  savedFlops: number;
  /** keptFlops / denseFlops. */
  keptRatio: number;
  /** What the kernel actually computes: every pair of the tiles it visits, masked lanes included. */
  computedFlops: number;
}

export interface PromptAttentionSummary extends FlopCounts {
  /** forward calls that completed, over all layers. */
  calls: number;
  /** Completed calls per layer index. */
  callsPerLayer: number[];
}

/** One layer of a PromptAttention: its head categories and its forward pass. */
export class LayerAttention {
  readonly index: number;
  readonly heads: readonly HeadCategory[];
  readonly #owner: PromptAttention;
  #stats: PlanStats | undefined;

  /** @internal */
  constructor(owner: PromptAttention, index: number, heads: readonly HeadCategory[]) {
    this.#owner = owner;
    this.index = index;
    this.heads = heads;
    Object.freeze(this);
  }

  /** The plan's FLOP accounting for this layer's heads (computed on first use, then cached). */
  get stats(): PlanStats {
    return (this.#stats ??= this.#owner.plan.stats(this.heads));
  }

  /** This layer's FLOPs for one call. */
  get flops(): FlopCounts {
    return flopCounts(this.stats, this.#owner.options.headDim);
  }

  /** Attention for this layer off the main thread. q [N, numHeads, headDim], k and v [N, numKvHeads, headDim]. */
  async forward(q: Float32Array, k: Float32Array, v: Float32Array, outputs: ForwardOutputs = {}): Promise<AttentionResult> {
    const result = await attention(this.#args(q, k, v, outputs));
    this.#owner._record(this);
    return result;
  }

  /** The same on the calling thread. */
  forwardSync(q: Float32Array, k: Float32Array, v: Float32Array, outputs: ForwardOutputs = {}): AttentionResult {
    const result = attentionSync(this.#args(q, k, v, outputs));
    this.#owner._record(this);
    return result;
  }

  #args(q: Float32Array, k: Float32Array, v: Float32Array, outputs: ForwardOutputs): AttentionArgs & { outDtype?: 'f32' } {
    if (typeof outputs !== 'object' || outputs === null) throw typeError('outputs must be an object');
    const o = this.#owner.options;
    return {
      q,
      k,
      v,
      plan: this.#owner.plan,
      heads: this.heads,
      numHeads: o.numHeads,
      numKvHeads: o.numKvHeads,
      headDim: o.headDim,
      scale: o.scale,
      threads: o.threads,
      isa: o.isa,
      returnLse: o.returnLse,
      out: outputs.out,
      lse: outputs.lse,
    };
  }
}

/**
 * Per-prompt attention for a whole model: `PromptAttention.create(layout, policy, options)` once per prompt, then
 * `layer(i).forward(q, k, v)` inside layer i's attention step. Every layer shares one MaskPlan; only the head
 * categories differ.
 */
export class PromptAttention {
  readonly plan: MaskPlan;
  readonly policy: HeadPolicy;
  readonly options: Readonly<Pick<PromptAttentionOptions, 'numHeads' | 'numKvHeads' | 'headDim' | 'scale' | 'threads' | 'isa' | 'returnLse'>>;
  readonly #layers: LayerAttention[];
  readonly #callsPerLayer: number[];
  #totals = { dense: 0, kept: 0, computed: 0, calls: 0 };

  readonly #ownsPlan: boolean;

  private constructor(plan: MaskPlan, policy: HeadPolicy, options: PromptAttention['options'], ownsPlan: boolean) {
    this.plan = plan;
    this.#ownsPlan = ownsPlan;
    this.policy = policy;
    this.options = options;
    this.#layers = Array.from({ length: policy.numLayers }, (_, i) => new LayerAttention(this, i, policy.layer(i)));
    this.#callsPerLayer = new Array<number>(policy.numLayers).fill(0);
  }

  /**
   * `layout` is the prompt's Layout (the plan is built here with the mask and block options in `options`) or an
   * already built MaskPlan of it (then `options` carries no plan options).
   */
  static create(layout: Layout | MaskPlan, policy: HeadPolicy, options: PromptAttentionOptions): PromptAttention {
    if (!(policy instanceof HeadPolicy)) throw typeError('policy must be a HeadPolicy');
    if (typeof options !== 'object' || options === null) throw typeError('options must be an object');
    const { numHeads, numKvHeads, headDim, scale, threads, isa, returnLse, ...planOptions } = options;
    for (const [name, v] of [['numHeads', numHeads], ['numKvHeads', numKvHeads], ['headDim', headDim]] as const)
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw rangeError(`${name} must be a positive integer, got ${String(v)}`);
    if (policy.numHeads !== numHeads)
      throw new BlindsightError('BAD_POLICY', `the policy has ${policy.numHeads} heads per layer; numHeads is ${numHeads}`);
    checkGqa(numHeads, numKvHeads);
    let plan: MaskPlan;
    if (layout instanceof MaskPlan) {
      const given = Object.keys(planOptions).filter((k) => planOptions[k as keyof typeof planOptions] !== undefined);
      if (given.length > 0)
        throw new BlindsightError('BAD_OPTION', `plan options (${given.join(', ')}) cannot apply to an already built MaskPlan; pass the Layout instead`);
      plan = layout;
    } else if (layout instanceof Layout) {
      plan = MaskPlan.build(layout, planOptions);
    } else {
      throw typeError('layout must be a Layout or a MaskPlan');
    }
    return new PromptAttention(plan, policy, Object.freeze({ numHeads, numKvHeads, headDim, scale, threads, isa, returnLse }), !(layout instanceof MaskPlan));
  }

  /**
   * Releases the plan this hook built (a MaskPlan passed to create() stays the caller's to dispose). Calls already
   * running finish; later forwards are a BlindsightError DISPOSED.
   */
  dispose(): void {
    if (this.#ownsPlan) this.plan.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  get numLayers(): number {
    return this.#layers.length;
  }

  layer(index: number): LayerAttention {
    if (!Number.isInteger(index) || index < 0 || index >= this.#layers.length)
      throw rangeError(`layer must be an integer in [0, ${this.#layers.length - 1}], got ${String(index)}`);
    return this.#layers[index];
  }

  /** FLOPs of the forward calls completed so far (failed calls are not counted). */
  summary(): PromptAttentionSummary {
    const t = this.#totals;
    return {
      calls: t.calls,
      callsPerLayer: [...this.#callsPerLayer],
      denseFlops: t.dense,
      keptFlops: t.kept,
      savedFlops: t.dense - t.kept,
      keptRatio: t.dense > 0 ? t.kept / t.dense : 1,
      computedFlops: t.computed,
    };
  }

  /** What one forward over every layer costs (whether or not any ran). */
  modelFlops(): FlopCounts {
    let dense = 0, kept = 0, computed = 0;
    for (const l of this.#layers) {
      const f = l.flops;
      dense += f.denseFlops;
      kept += f.keptFlops;
      computed += f.computedFlops;
    }
    return { denseFlops: dense, keptFlops: kept, savedFlops: dense - kept, keptRatio: dense > 0 ? kept / dense : 1, computedFlops: computed };
  }

  /** @internal Called by LayerAttention after a forward completes. */
  _record(layer: LayerAttention): void {
    const f = layer.flops;
    this.#totals.dense += f.denseFlops;
    this.#totals.kept += f.keptFlops;
    this.#totals.computed += f.computedFlops;
    this.#totals.calls++;
    this.#callsPerLayer[layer.index]++;
  }
}

function flopCounts(s: PlanStats, headDim: number): FlopCounts {
  const perPair = 4 * headDim;
  const computedPairs = s.perCategory.reduce((a, c) => a + c.computedPairs * c.heads, 0);
  return {
    denseFlops: perPair * s.denseCausalPairs,
    keptFlops: perPair * s.visiblePairs,
    savedFlops: perPair * (s.denseCausalPairs - s.visiblePairs),
    keptRatio: s.keptRatio,
    computedFlops: perPair * computedPairs,
  };
}
