import { categoryCode, categoryCodes, HEAD_CATEGORIES, type HeadCategory } from './categories.js';
import { callNative, typeError, rangeError } from './errors.js';
import { Layout } from './layout.js';
import { native, type NativeLayoutHandle, type NativePlanBlocks, type NativePlanHandle, type NativePlanOptions } from './native.js';

// The native side of each Layout, built on its first plan and reused by later ones (a Layout is immutable).
const nativeLayouts = new WeakMap<Layout, NativeLayoutHandle>();

function nativeLayout(layout: Layout): NativeLayoutHandle {
  let h = nativeLayouts.get(layout);
  if (!h) {
    const addon = native();
    h = callNative(() => new addon.NativeLayout({ cuSeqlens: layout.cuSeqlens, imageIds: layout.imageIds, sinkFlags: layout.sinkFlags }));
    nativeLayouts.set(layout, h);
  }
  return h;
}

export interface MaskOptions {
  /** Image queries of sparse heads also see every text key (default true). */
  textKeys?: boolean;
  /** Tokens of one image see each other in both directions (Gemma 3 style; default false). */
  bidirectionalImages?: boolean;
  /** Sliding window W: keys with q - k >= W are hidden unless they are sinks. null (default) = no window. */
  window?: number | null;
}

export interface PlanOptions extends MaskOptions {
  /** Query tokens per block (multiple of 8 in [8, 256]; default 64). */
  blockM?: number;
  /** Key tokens per block (multiple of 8 in [8, 256]; default 64). */
  blockN?: number;
  /**
   * Verification mode: visit every key block as partial (the element rule on every pair, nothing skipped). Gives the
   * dense-masked computation the benchmark checks sparse results against. Default false.
   */
  exhaustive?: boolean;
}

export interface CategoryStats {
  category: HeadCategory;
  /** Heads of this category in the `categories` argument. */
  heads: number;
  /** Visible (q, k) pairs summed over those heads. */
  visiblePairs: number;
  /** Dense causal pairs summed over those heads. */
  denseCausalPairs: number;
  /** visiblePairs / denseCausalPairs: the fraction of dense causal attention FLOPs kept. */
  keptRatio: number;
  /** Block counts for one head of this category. */
  fullBlocks: number;
  partialBlocks: number;
  skippedBlocks: number;
  /** Keys visited through gathered tiles (scattered sinks / text), summed over query blocks, for one head. */
  gatheredKeys: number;
  /** Pairs the kernel computes for one head (visited block areas plus gathered tiles). */
  computedPairs: number;
}

export interface PlanStats {
  /** Totals over the given heads. */
  visiblePairs: number;
  denseCausalPairs: number;
  keptRatio: number;
  /** Per head: all (query block, key block) pairs inside sequences, and those holding a causal pair. */
  gridBlocks: number;
  causalBlocks: number;
  perCategory: CategoryStats[];
}

/**
 * The block plan of one prompt: which key tiles each query block visits under each head category, derived from the
 * layout's segment boundaries in native code in O(N + visited blocks). Build once per prompt; reuse for every layer
 * and head.
 */
export class MaskPlan {
  readonly layout: Layout;
  readonly options: Readonly<Required<Omit<PlanOptions, 'window'>> & { window: number | null }>;
  /** @internal */
  readonly handle: NativePlanHandle;

  private constructor(layout: Layout, options: MaskPlan['options'], handle: NativePlanHandle) {
    this.layout = layout;
    this.options = options;
    this.handle = handle;
    Object.freeze(this);
  }

  static build(layout: Layout, options: PlanOptions = {}): MaskPlan {
    if (!(layout instanceof Layout)) throw typeError('MaskPlan.build expects a Layout (see Layout.fromSegments)');
    if (typeof options !== 'object' || options === null) throw typeError('options must be an object');
    const o = {
      textKeys: bool(options.textKeys, true, 'textKeys'),
      bidirectionalImages: bool(options.bidirectionalImages, false, 'bidirectionalImages'),
      window: windowOption(options.window),
      blockM: blockOption(options.blockM, 'blockM'),
      blockN: blockOption(options.blockN, 'blockN'),
      exhaustive: bool(options.exhaustive, false, 'exhaustive'),
    };
    const addon = native();
    const handle = callNative(() => new addon.NativePlan(nativeLayout(layout), nativePlanOptions(o)));
    return new MaskPlan(layout, Object.freeze(o), handle);
  }

  /**
   * Releases the plan's native memory now rather than when the garbage collector gets to it (the memory is reported
   * to V8 either way). Calls already running keep their share and finish normally; using the plan afterwards is a
   * BlindsightError DISPOSED. Also `using plan = MaskPlan.build(...)` (Symbol.dispose).
   */
  dispose(): void {
    this.handle.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  get numQueryBlocks(): number {
    return this.handle.info().numQueryBlocks;
  }

  /** Bytes the native plan holds (excluding the layout's per-token arrays). */
  get bytes(): number {
    return this.handle.info().bytes;
  }

  /** FLOP accounting for a set of heads (one category per head; a single category counts as one head). */
  stats(categories: HeadCategory | readonly HeadCategory[]): PlanStats {
    const heads = typeof categories === 'string' ? [categories] : categories;
    const codes = categoryCodes(heads, 'categories');
    const s = this.handle.stats();
    const counts = [0, 0, 0, 0];
    codes.forEach((c) => counts[c]++);
    const perCategory = HEAD_CATEGORIES.map((category, c): CategoryStats => {
      const cs = s.categories[c];
      const n = counts[c];
      return {
        category,
        heads: n,
        visiblePairs: cs.visiblePairs * n,
        denseCausalPairs: s.denseCausalPairs * n,
        keptRatio: cs.visiblePairs / s.denseCausalPairs,
        fullBlocks: cs.fullBlocks,
        partialBlocks: cs.partialBlocks,
        skippedBlocks: s.gridBlocks - cs.fullBlocks - cs.partialBlocks,
        gatheredKeys: cs.gatheredKeys,
        computedPairs: cs.computedPairs,
      };
    });
    const visiblePairs = perCategory.reduce((a, c) => a + c.visiblePairs, 0);
    const denseCausalPairs = s.denseCausalPairs * codes.length;
    return {
      visiblePairs,
      denseCausalPairs,
      keptRatio: denseCausalPairs > 0 ? visiblePairs / denseCausalPairs : 1,
      gridBlocks: s.gridBlocks,
      causalBlocks: s.causalBlocks,
      perCategory,
    };
  }

  /** The raw plan for one category: query blocks, key runs and gathered ranges (for tests and pictures). */
  blocks(category: HeadCategory): NativePlanBlocks {
    return this.handle.blocks(categoryCode(category));
  }
}

/** A plan's options as the native plan constructors take them (the C ABI's blindsight_plan_options, window 0 = none). */
export function nativePlanOptions(o: MaskPlan['options']): NativePlanOptions {
  return {
    blockM: o.blockM,
    blockN: o.blockN,
    window: o.window ?? 0,
    textKeys: o.textKeys,
    bidirectionalImages: o.bidirectionalImages,
    exhaustive: o.exhaustive,
  };
}

function bool(v: unknown, dflt: boolean, name: string): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw typeError(`${name} must be a boolean, got ${typeof v}`);
  return v;
}

function windowOption(v: unknown): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > 2 ** 31 - 1)
    throw rangeError(`window must be null or an integer >= 1, got ${String(v)}`, 'BAD_WINDOW');
  return v;
}

function blockOption(v: unknown, name: string): number {
  if (v === undefined) return 64;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 8 || v > 256 || v % 8 !== 0)
    throw rangeError(`${name} must be a multiple of 8 in [8, 256], got ${String(v)}`, 'BAD_BLOCK_SIZE');
  return v;
}

