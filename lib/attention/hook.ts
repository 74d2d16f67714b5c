/**
 * The per-prompt attention hook for runtimes that run a model layer by layer: built once per prompt from the
 * prompt's layout and the model's head policy, it plans the mask once and then serves every layer's attention call
 * with that layer's head categories — over the whole prompt, or micro-batch by micro-batch against the runtime's
 * growing KV cache — keeping count of the FLOPs the sparse masks saved.
 */
import { attention, attentionSync, type AttentionArgs, type AttentionResult, type CpuIsa } from './attention.js';
import { resolveRanges, type CallStrides, type TokenRange, type TokenRanges } from './ranges.js';
import { checkGqa } from './args.js';
import { KvPack } from './kv_pack.js';
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
  /**
   * Forwards that pass no `out` (and `lse`) write into one output per shape that the hook keeps, over a
   * SharedArrayBuffer (written in place by async calls too), instead of a fresh array per call: no allocation and no
   * page faults on the hot path. The array a forward returns is then overwritten by the next forward of the same
   * shape; copy what must outlive it. A forward whose shape's output is still in use by a running call gets a fresh
   * one. Default false.
   */
  reuseOutputs?: boolean;
  /**
   * Micro-batch forwards (those with `queries`) keep each layer's copy of its token-major KV cache in a KvPack, so a
   * key row is copied once per prompt rather than on every micro-batch that reads it (text queries read the whole
   * cache so far). Each layer then holds 2 × tokens × numKvHeads × headDim elements until dispose(). A layer's cache
   * must only grow while the hook serves it (a new prompt: a new hook, or resetKvPacks()). Default false.
   */
  kvPacks?: boolean;
}

/** Marks a PromptObserver (the Calibrator of blindsight/calibrate), which PromptAttention.create takes instead of a policy. */
export const PROMPT_OBSERVER = Symbol.for('blindsight.promptObserver');

/** One completed forward as an observer sees it: the layer's inputs and its (dense) output. */
export interface ForwardObservation {
  layer: number;
  plan: MaskPlan;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  out: Float32Array;
  scale: number | undefined;
}

/**
 * Calibration mode: given in place of a policy, every head runs dense (what the model needs while it is being
 * measured) and every forward is handed to the observer once it completes (awaited by forward()).
 */
export interface PromptObserver {
  readonly [PROMPT_OBSERVER]: true;
  readonly numLayers: number;
  readonly numHeads: number;
  /** Throws unless a hook with this plan and head shape suits the observer. */
  checkPrompt(plan: MaskPlan, shape: { numHeads: number; numKvHeads: number; headDim: number }): void;
  observeForward(f: ForwardObservation): Promise<void>;
  observeForwardSync(f: ForwardObservation): void;
}

function isPromptObserver(x: unknown): x is PromptObserver {
  return typeof x === 'object' && x !== null && (x as Partial<PromptObserver>)[PROMPT_OBSERVER] === true;
}

/** Per-call extras: caller-owned outputs (e.g. a slice of the runtime's own activation buffer), and a micro-batch. */
export interface ForwardOutputs {
  out?: Float32Array;
  lse?: Float32Array;
  /**
   * The query tokens of this call (a micro-batch, see PromptAttention.microBatches); q, out and lse hold their rows.
   * Default: every token.
   */
  queries?: TokenRanges;
  /**
   * The key tokens k and v hold. Default with `queries`: each sequence's tokens up to the end of its queries — the
   * KV cache so far (through the end of an image the queries end in, for bidirectional images); else every token.
   */
  keys?: TokenRanges;
  /** Strides of q, k, v, out, e.g. those of a head-major KV cache read in place. */
  strides?: CallStrides;
}

/** One micro-batch of a prompt: its query tokens and the keys of the cache once they are appended. */
export interface MicroBatch {
  queries: TokenRange;
  keys: TokenRange;
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
  /**
   * What the kernel computed: for the calls of `summary()` the pairs the CPU kernel counted as it ran (masked lanes of
   * the vectors it ran included); for `flops` / `modelFlops()` (and GPU calls) the plan's estimate, every pair of the
   * blocks it visits, an upper bound.
   */
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
  #kvPack: KvPack | undefined;

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

  /** This layer's FLOPs for one whole-prompt call. */
  get flops(): FlopCounts {
    return flopCounts(this.stats, this.#owner.options.headDim);
  }

  /**
   * Attention for this layer off the main thread. q [query rows, numHeads, headDim], k and v [key rows, numKvHeads,
   * headDim]: every token by default, or the micro-batch and cache `outputs.queries` / `keys` name.
   */
  async forward(q: Float32Array, k: Float32Array, v: Float32Array, outputs: ForwardOutputs = {}): Promise<AttentionResult> {
    const { args, flops, release } = this.#call(q, k, v, outputs);
    try {
      const result = await attention(args);
      await this.#owner.observer?.observeForward(this.#observation(q, k, v, result.out as Float32Array));
      this.#owner._record(this, measured(flops, result, this.#owner.options.headDim));
      return result;
    } finally {
      release();
    }
  }

  /** The same on the calling thread. */
  forwardSync(q: Float32Array, k: Float32Array, v: Float32Array, outputs: ForwardOutputs = {}): AttentionResult {
    const { args, flops, release } = this.#call(q, k, v, outputs);
    try {
      const result = attentionSync(args);
      this.#owner.observer?.observeForwardSync(this.#observation(q, k, v, result.out as Float32Array));
      this.#owner._record(this, measured(flops, result, this.#owner.options.headDim));
      return result;
    } finally {
      release();
    }
  }

  #observation(q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array): ForwardObservation {
    return { layer: this.index, plan: this.#owner.plan, q, k, v, out, scale: this.#owner.options.scale };
  }

  #call(q: Float32Array, k: Float32Array, v: Float32Array, outputs: ForwardOutputs): { args: AttentionArgs & { outDtype?: 'f32' }; flops: FlopCounts; release: () => void } {
    if (typeof outputs !== 'object' || outputs === null) throw typeError('outputs must be an object');
    const o = this.#owner.options;
    const plan = this.#owner.plan;
    if (this.#owner.observer && (outputs.queries !== undefined || outputs.keys !== undefined || outputs.strides !== undefined))
      throw new BlindsightError('BAD_OPTION', 'calibration mode observes whole-prompt calls on packed tensors: queries, keys and strides do not apply');
    let keys = outputs.keys;
    if (outputs.queries !== undefined && keys === undefined) keys = cacheSoFar(plan, outputs.queries);
    const whole = outputs.queries === undefined && keys === undefined;
    const flops = whole ? this.flops : rangeFlops(plan, this.heads, o.headDim, outputs.queries, keys);
    let out = outputs.out, lse = outputs.lse;
    let release = () => {};
    const kvPack = o.kvPacks && outputs.queries !== undefined ? (this.#kvPack ??= new KvPack()) : undefined;
    if (o.reuseOutputs && out === undefined && lse === undefined) {
      const rows = outputs.queries === undefined ? plan.layout.numTokens : resolveRanges(outputs.queries, plan.layout, 'queries').rows;
      const reused = this.#owner._takeOutput(rows, o.returnLse === true);
      if (reused) [out, lse, release] = [reused.out, reused.lse, reused.release];
    }
    return { release, flops, args: {
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
      out,
      lse,
      queries: outputs.queries,
      keys,
      strides: outputs.strides,
      kvPack,
    } };
  }

  /** @internal Drops (dispose: true, releases) this layer's KvPack. */
  _resetKvPack(dispose: boolean): void {
    if (dispose) {
      this.#kvPack?.dispose();
      this.#kvPack = undefined;
    } else {
      this.#kvPack?.reset();
    }
  }
}

/**
 * The keys of the KV cache once a micro-batch is appended: for one [begin, end] range over the packed layout, every
 * token before `end` ([0, end]); for one range per sequence, each sequence's tokens up to the end of its range. With
 * bidirectional images, through the end of an image a range stops inside.
 */
function cacheSoFar(plan: MaskPlan, queries: TokenRanges): TokenRanges {
  const L = plan.layout;
  const throughImage = (e: number, s1: number) => {
    if (!plan.options.bidirectionalImages || e <= 0 || e >= s1) return e;
    const id = L.imageIds[e - 1];
    if (id >= 0) while (e < s1 && L.imageIds[e] === id) e++;
    return e;
  };
  const q = resolveRanges(queries, L, 'queries').native!;
  const single = queries.length === 2 && typeof queries[0] === 'number';
  if (single) {
    const end = (queries as TokenRange)[1];
    const seq = end > 0 ? L.cuSeqlens.findIndex((x) => x >= end) - 1 : 0;
    return [0, throughImage(end, L.cuSeqlens[Math.max(0, seq) + 1])];
  }
  const keys: TokenRange[] = [];
  for (let s = 0; s < L.numSequences; s++) keys.push([L.cuSeqlens[s], throughImage(q[2 * s + 1], L.cuSeqlens[s + 1])]);
  return keys;
}

/** The FLOPs of one call over query and key ranges: its rectangles' pairs, per sequence, from MaskPlan.rangeStats. */
function rangeFlops(plan: MaskPlan, heads: readonly HeadCategory[], headDim: number, queries?: TokenRanges, keys?: TokenRanges): FlopCounts {
  const L = plan.layout;
  const all = () => Int32Array.from({ length: 2 * L.numSequences }, (_, i) => L.cuSeqlens[(i >> 1) + (i & 1)]);
  const q = resolveRanges(queries, L, 'queries').native ?? all();
  const k = resolveRanges(keys, L, 'keys').native ?? all();
  const counts = new Map<HeadCategory, number>();
  for (const h of heads) counts.set(h, (counts.get(h) ?? 0) + 1);
  let dense = 0, kept = 0;
  for (let s = 0; s < L.numSequences; s++) {
    const [qb, qe, kb, ke] = [q[2 * s], q[2 * s + 1], k[2 * s], k[2 * s + 1]];
    if (qb >= qe || kb >= ke) continue;
    dense += heads.length * causalPairs(qb, qe, kb, ke);
    for (const [cat, n] of counts) kept += n * plan.rangeStats(cat, [qb, qe], [kb, ke]).visiblePairs;
  }
  const perPair = 4 * headDim;
  // What the kernel computes is known once it ran (AttentionResult.computedPairs), not from the plan.
  return { denseFlops: perPair * dense, keptFlops: perPair * kept, savedFlops: perPair * (dense - kept), keptRatio: dense > 0 ? kept / dense : 1, computedFlops: Number.NaN };
}

/** A call's FLOPs with what the kernel reports it computed (the CPU backend counts it) in place of the estimate. */
function measured(f: FlopCounts, r: AttentionResult, headDim: number): FlopCounts {
  return r.computedPairs === undefined ? f : { ...f, computedFlops: 4 * headDim * r.computedPairs };
}

/** Causal pairs (k <= q) with q in [qb, qe) and k in [kb, ke). */
function causalPairs(qb: number, qe: number, kb: number, ke: number): number {
  let n = 0;
  // Rows q >= ke - 1 see all of [kb, ke); rows below see [kb, q + 1).
  const full = Math.max(qb, ke - 1);
  if (qe > full) n += (qe - full) * (ke - kb);
  const lo = Math.max(qb, kb), hi = Math.min(qe, ke - 1);
  if (hi > lo) n += ((lo - kb + 1) + (hi - 1 - kb + 1)) * (hi - lo) / 2;
  return n;
}

/**
 * Per-prompt attention for a whole model: `PromptAttention.create(layout, policy, options)` once per prompt, then
 * `layer(i).forward(q, k, v)` inside layer i's attention step. Every layer shares one MaskPlan; only the head
 * categories differ.
 */
export class PromptAttention {
  readonly plan: MaskPlan;
  readonly policy: HeadPolicy;
  readonly options: Readonly<Pick<PromptAttentionOptions, 'numHeads' | 'numKvHeads' | 'headDim' | 'scale' | 'threads' | 'isa' | 'returnLse' | 'reuseOutputs' | 'kvPacks'>>;
  // The reused outputs (reuseOutputs), by query rows, and whether a running call holds each.
  readonly #outputs = new Map<number, { out: Float32Array; lse?: Float32Array; busy: boolean }>();
  readonly #layers: LayerAttention[];
  readonly #callsPerLayer: number[];
  #totals = { dense: 0, kept: 0, computed: 0, calls: 0 };

  readonly #ownsPlan: boolean;
  /** Calibration mode's observer (create() given a Calibrator instead of a policy), else undefined. */
  readonly observer: PromptObserver | undefined;

  private constructor(plan: MaskPlan, policy: HeadPolicy, options: PromptAttention['options'], ownsPlan: boolean, observer?: PromptObserver) {
    this.plan = plan;
    this.observer = observer;
    this.#ownsPlan = ownsPlan;
    this.policy = policy;
    this.options = options;
    this.#layers = Array.from({ length: policy.numLayers }, (_, i) => new LayerAttention(this, i, policy.layer(i)));
    this.#callsPerLayer = new Array<number>(policy.numLayers).fill(0);
  }

  /**
   * `layout` is the prompt's Layout (the plan is built here with the mask and block options in `options`) or an
   * already built MaskPlan of it (then `options` carries no plan options). `policy` is the model's HeadPolicy, or, in
   * calibration mode, a Calibrator (blindsight/calibrate): then every head runs dense and every forward is observed.
   */
  static create(layout: Layout | MaskPlan, policy: HeadPolicy | PromptObserver, options: PromptAttentionOptions): PromptAttention {
    if (isPromptObserver(policy)) return PromptAttention.#observed(layout, policy, options);
    if (!(policy instanceof HeadPolicy)) throw typeError('policy must be a HeadPolicy (or a Calibrator, to calibrate)');
    if (typeof options !== 'object' || options === null) throw typeError('options must be an object');
    const { numHeads, numKvHeads, headDim, scale, threads, isa, returnLse, reuseOutputs, kvPacks, ...planOptions } = options;
    if (reuseOutputs !== undefined && typeof reuseOutputs !== 'boolean') throw typeError('reuseOutputs must be a boolean');
    if (kvPacks !== undefined && typeof kvPacks !== 'boolean') throw typeError('kvPacks must be a boolean');
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
    return new PromptAttention(plan, policy, Object.freeze({ numHeads, numKvHeads, headDim, scale, threads, isa, returnLse, reuseOutputs, kvPacks }), !(layout instanceof MaskPlan));
  }

  static #observed(layout: Layout | MaskPlan, observer: PromptObserver, options: PromptAttentionOptions): PromptAttention {
    if (typeof options !== 'object' || options === null) throw typeError('options must be an object');
    // The policy takes the hook's head count, so a count that differs from the observer's is the observer's to report.
    const heads = Number.isInteger(options.numHeads) && options.numHeads >= 1 ? options.numHeads : observer.numHeads;
    const hook = PromptAttention.create(layout, HeadPolicy.uniform(observer.numLayers, heads, 'dense'), options);
    try {
      observer.checkPrompt(hook.plan, hook.options);
    } catch (e) {
      hook.dispose();
      throw e;
    }
    return new PromptAttention(hook.plan, hook.policy, hook.options, hook.#ownsPlan, observer);
  }

  /**
   * Releases the plan this hook built (a MaskPlan passed to create() stays the caller's to dispose). Calls already
   * running finish; later forwards are a BlindsightError DISPOSED.
   */
  dispose(): void {
    if (this.#ownsPlan) this.plan.dispose();
    for (const l of this.#layers) l._resetKvPack(true);
  }

  /** Drops the layers' kept KV copies (kvPacks), for a hook that serves another prompt of the same layout. */
  resetKvPacks(): void {
    for (const l of this.#layers) l._resetKvPack(false);
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

  /**
   * The micro-batches of a prompt prefilled in steps of about `size` query tokens, as runtimes with a KV cache
   * prefill (llama.cpp's n_ubatch): consecutive ranges of the packed layout, each with the keys of the cache once its
   * tokens are appended. With bidirectional images a step never ends inside an image (its tokens see each other), so
   * a step may be longer than `size`.
   */
  microBatches(size: number): MicroBatch[] {
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 1) throw rangeError(`size must be a positive integer, got ${String(size)}`);
    const L = this.plan.layout;
    const out: MicroBatch[] = [];
    for (let b = 0; b < L.numTokens; ) {
      let e = Math.min(L.numTokens, b + size);
      if (this.plan.options.bidirectionalImages && e < L.numTokens && L.imageIds[e - 1] >= 0)
        while (e < L.numTokens && L.imageIds[e] === L.imageIds[e - 1]) e++;
      out.push({ queries: [b, e], keys: [0, e] });
      b = e;
    }
    return out;
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

  /** @internal The reused output for `rows` query rows, held until release(); undefined while a call holds it. */
  _takeOutput(rows: number, withLse: boolean): { out: Float32Array; lse?: Float32Array; release: () => void } | undefined {
    const { numHeads, headDim } = this.options;
    let slot = this.#outputs.get(rows);
    if (slot?.busy) return undefined;
    if (!slot || (withLse && !slot.lse)) {
      const shared = (n: number) => new Float32Array(new SharedArrayBuffer(4 * Math.max(1, n)), 0, n);
      slot = { out: shared(rows * numHeads * headDim), lse: withLse ? shared(rows * numHeads) : undefined, busy: false };
      this.#outputs.set(rows, slot);
    }
    const held = slot;
    held.busy = true;
    return { out: held.out, lse: withLse ? held.lse : undefined, release: () => void (held.busy = false) };
  }

  /** @internal Called by LayerAttention after a forward completes, with that call's FLOPs. */
  _record(layer: LayerAttention, f: FlopCounts): void {
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
