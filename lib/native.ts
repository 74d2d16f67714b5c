/**
 * Loads the compiled addon. node-gyp-build looks in prebuilds/<platform>-<arch>/ first, then build/Release, so an
 * installed package uses its prebuilt binary and a source checkout uses what `npm install` compiled.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { BlindsightError } from './errors.js';

export interface NativeCategoryStats {
  visiblePairs: number;
  fullBlocks: number;
  partialBlocks: number;
  gatheredKeys: number;
  computedPairs: number;
}
export interface NativePlanStats {
  denseCausalPairs: number;
  gridBlocks: number;
  causalBlocks: number;
  categories: NativeCategoryStats[];
}
export interface NativePlanBlocks {
  queryBlocks: Int32Array; // [sequence, begin, end] per query block
  runOffsets: Int32Array;
  runs: Int32Array; // [begin, end, full] per run
  gatherOffsets: Int32Array;
  gathers: Int32Array; // [list (0 sinks, 1 shared), begin, end] per range
  sinkTokens: Int32Array;
  sharedTokens: Int32Array;
}
export interface NativePlanHandle {
  stats(): NativePlanStats;
  blocks(category: number): NativePlanBlocks;
  info(): { numTokens: number; numQueryBlocks: number; blockM: number; blockN: number; bytes: number };
}
export interface NativeAddon {
  NativePlan: new (
    cuSeqlens: Int32Array,
    imageIds: Int32Array,
    isSink: Uint8Array,
    blockM: number,
    blockN: number,
    window: number,
    textKeys: boolean,
    bidirectionalImages: boolean,
    exhaustive: boolean,
  ) => NativePlanHandle;
  attentionSync(...args: AttentionNativeArgs): void;
  attentionAsync(...args: AttentionNativeArgs): Promise<void>;
  attentionMassSync(...args: AttentionMassNativeArgs): NativeMassResult;
  attentionMassAsync(...args: AttentionMassNativeArgs): Promise<NativeMassResult>;
  setThreads(n: number): void;
  getThreads(): number;
  cpuInfo(): { isas: string[]; defaultIsa: string; defaultThreads: number };
}
export type AttentionNativeArgs = [
  plan: NativePlanHandle,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  heads: Uint8Array,
  numHeads: number,
  numKvHeads: number,
  headDim: number,
  scale: number,
  out: Float32Array,
  lse: Float32Array | null,
  threads: number,
  isa: string | null,
];

export type AttentionMassNativeArgs = [
  plan: NativePlanHandle,
  q: Float32Array | Uint16Array,
  k: Float32Array | Uint16Array,
  dtype: number, // 0 f32, 1 f16, 2 bf16
  numHeads: number,
  numKvHeads: number,
  headDim: number,
  scale: number,
  perToken: Float32Array | null,
  threads: number,
  isa: string | null,
];
export interface NativeMassResult {
  perHead: Float64Array; // [numHeads, 7] sums over image queries of each bucket's fraction
  imageQueries: number;
}

export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

let cached: NativeAddon | undefined;

export function native(): NativeAddon {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  try {
    const load = require('node-gyp-build') as (dir: string) => NativeAddon;
    cached = load(packageRoot);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new BlindsightError(
      'NATIVE_LOAD_FAILED',
      `Could not load the blindsight native addon for ${process.platform}-${process.arch} (Node ${process.versions.node}, ` +
        `N-API ${process.versions.napi}).\n  Reason: ${reason}\n` +
        `  No prebuilt binary matched and no local build was found. To build from source you need python3, make and a ` +
        `C++20 compiler; then run \`npm rebuild blindsight\` (or \`npm run build:native\` in a checkout).`,
      { cause: e },
    );
  }
  return cached;
}
