/**
 * Loads the compiled addon. node-gyp-build takes a local build (build/Release) if there is one, else the prebuilt
 * binary in prebuilds/<platform>-<arch>/ that the published package ships, so a source checkout uses what
 * `npm install` compiled and an installed package its prebuild. BLINDSIGHT_PREBUILD=<dir> overrides the directory.
 */
import { createRequire } from 'node:module';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { BlindsightError } from './errors.js';
import { packageRoot } from './package_root.js';

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
  gathers: Int32Array; // [list (0 sinks, 1 shared, 2 text), begin, end] per range
  sinkTokens: Int32Array;
  sharedTokens: Int32Array;
  textTokens: Int32Array;
}
export interface NativePlanHandle {
  stats(): NativePlanStats;
  blocks(category: number): NativePlanBlocks;
  info(): { numTokens: number; numQueryBlocks: number; blockM: number; blockN: number; bytes: number };
  maskBias(category: number, rowBegin: number, rowEnd: number, out: Float32Array, hidden: number): void;
  visiblePairs(category: number, queryBegin: number, queryEnd: number, keyBegin: number, keyEnd: number): number;
  /** Releases the native plan now (running calls keep their share until they finish). */
  dispose(): void;
}
/** The native per-token tables of a Layout, built once and shared by every plan of that layout. */
export interface NativeLayoutHandle {
  dispose(): void;
}
/** NativePlan options (native/addon/plan_object.cpp), the fields of the C ABI's blindsight_plan_options. */
export interface NativePlanOptions {
  blockM: number;
  blockN: number;
  /** 0 = no window. */
  window: number;
  /** Default true. */
  windowKeepsSinks?: boolean;
  textKeys: boolean;
  bidirectionalImages: boolean;
  exhaustive: boolean;
}
export interface NativeAddon {
  NativeLayout: new (arrays: { cuSeqlens: Int32Array; imageIds: Int32Array; sinkFlags: Uint8Array }) => NativeLayoutHandle;
  NativePlan: new (layout: NativeLayoutHandle, options: NativePlanOptions) => NativePlanHandle;
  NativeKvPack: new () => NativeKvPackHandle;
  attentionSync(args: NativeAttentionArgs): NativeAttentionResult;
  attentionAsync(args: NativeAttentionArgs): Promise<NativeAttentionResult>;
  attentionMassSync(args: NativeMassArgs): NativeMassResult;
  attentionMassAsync(args: NativeMassArgs): Promise<NativeMassResult>;
  mergeAttentionSync(args: NativeMergeArgs): NativeAttentionResult;
  NativeCalibrator: new (options: NativeCalibratorOptions) => NativeCalibratorHandle;
  chooseCategories(args: NativeChooseArgs): Uint8Array;
  setThreads(n: number): void;
  getThreads(): number;
  cpuInfo(): NativeCpuInfo;
  fmaPeak(threads: number, isa: string | null, seconds: number): number;
}
export interface NativeCpuInfo {
  /** Levels this CPU runs, best last. */
  isas: string[];
  defaultIsa: string;
  defaultThreads: number;
  /** Every level of the ISA registry (native/cpu/isa.h), with what this binary and machine make of it. */
  levels: { name: string; needs: string; compiled: boolean; supported: boolean }[];
}
/**
 * The fields every native attention entry point reads by name (native/addon/attention_args.h): the C ABI's
 * blindsight_attention_args in camelCase. Element types: 0 f32 (Float32Array), 1 f16, 2 bf16 (Uint16Array bits).
 */
export interface NativeProblemArgs extends NativeCallLayout {
  plan: NativePlanHandle;
  q: Float32Array | Uint16Array;
  k: Float32Array | Uint16Array;
  v: Float32Array | Uint16Array;
  /** The caller's output, or undefined for one the addon allocates (from its recycled native blocks). */
  out?: Float32Array | Uint16Array;
  /** The caller's lse, or undefined (then the addon makes one when returnLse is true). */
  lse?: Float32Array;
  returnLse: boolean;
  heads: Uint8Array;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  scale: number;
  inputDtype: number;
  outputDtype: number;
}
/** A call's query / key ranges and tensor strides, as every native attention entry point takes them. */
export interface NativeCallLayout {
  /** begin, end per sequence (native/core/call_ranges.h); undefined: every token. */
  queryRanges?: Int32Array;
  keyRanges?: Int32Array;
  /** { token, head } element strides; undefined: packed token-major. */
  qStrides?: NativeStrides;
  kStrides?: NativeStrides;
  vStrides?: NativeStrides;
  outStrides?: NativeStrides;
}
export interface NativeStrides {
  token: number;
  head: number;
}
/** The CPU addon's attention call: the shared fields plus the CPU backend's settings. */
export interface NativeAttentionArgs extends NativeProblemArgs {
  /** 0 = the pool's size. */
  threads: number;
  /** A level name, or null for the default. */
  isa: string | null;
  /** The K/V copy kept between calls (native/addon/kv_pack_object.h). */
  kvPack?: NativeKvPackHandle;
}
/** A cpu::KvPack (native/cpu/packed_kv.h). */
export interface NativeKvPackHandle {
  reset(): void;
  dispose(): void;
  info(): { bytes: number; keptRows: number };
}
export interface NativeMergeArgs {
  partials: { out: Float32Array | Uint16Array; lse: Float32Array }[];
  numHeads: number;
  headDim: number;
  inputDtype: number;
  outputDtype: number;
  out?: Float32Array | Uint16Array;
  lse?: Float32Array;
  returnLse: boolean;
  threads: number;
}
export interface NativeMassArgs {
  plan: NativePlanHandle;
  q: Float32Array | Uint16Array;
  k: Float32Array | Uint16Array;
  inputDtype: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  scale: number;
  perToken?: Float32Array;
  returnPerToken: boolean;
  threads: number;
  isa: string | null;
}
/** NativeCalibrator options (native/addon/calibrator.h), the C ABI's blindsight_calibrator_options. */
export interface NativeCalibratorOptions {
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  textKeys: boolean;
  bidirectionalImages: boolean;
  /** 0 = no window. */
  window: number;
  /** 0 = 1/sqrt(headDim). */
  scale: number;
  mass: boolean;
  outputError: boolean;
}
export interface NativeObserveArgs {
  layer: number;
  plan: NativePlanHandle;
  q: Float32Array | Uint16Array;
  k: Float32Array | Uint16Array;
  v?: Float32Array | Uint16Array;
  denseOut?: Float32Array;
  inputDtype: number;
  /** 0 = the calibrator's. */
  scale: number;
  sample?: string;
  threads: number;
  isa: string | null;
}
/** The native calibrator's statistics (cpu::CalibrationSummary), flat arrays in [layer][head][...] order. */
export interface NativeCalibrationSummary {
  numLayers: number;
  numHeads: number;
  samples: { name: string; numTokens: number; numImages: number; imageQueries: number; scale: number }[];
  keptTextKeys: Float64Array;
  keptNoTextKeys: Float64Array;
  observations: Float64Array;
  imageQueries: Float64Array;
  undefinedRows: Float64Array;
  mass: Float64Array;
  worstTextKeys: Float64Array;
  worstNoTextKeys: Float64Array;
  hasOutputError: boolean;
  errorTextKeys: boolean;
  errorObservations: Float64Array;
  errorRows: Float64Array;
  squaredError: Float64Array;
  squaredNorm: Float64Array;
}
export interface NativeCalibratorHandle {
  observeSync(args: NativeObserveArgs): void;
  observeAsync(args: NativeObserveArgs): Promise<void>;
  /** complete: throw NOT_OBSERVED / NO_IMAGE_QUERIES unless every layer has image queries observed. */
  summary(complete: boolean): NativeCalibrationSummary;
  dispose(): void;
}
export interface NativeChooseArgs {
  numLayers: number;
  numHeads: number;
  mass: Float64Array;
  worst: Float64Array;
  kept: Float64Array;
  tau: number;
  worstTau: number;
  textKeys: boolean;
  pinned: Uint8Array;
}
/** What an attention entry point returns: the arrays holding the results (the caller's, or ones the addon made). */
export interface NativeAttentionResult {
  out: Float32Array | Uint16Array;
  lse?: Float32Array;
  /** CPU backend: pairs the kernel computed, and its phases' wall time. */
  computedPairs?: number;
  timing?: { prepareMs: number; kernelMs: number };
}
export interface NativeMassResult {
  perToken?: Float32Array;
  perHead: Float64Array; // [numHeads, 7] sums over measured image queries of each bucket's fraction
  rows: Float64Array; // [numHeads] measured image queries (rows with an undefined softmax are left out)
  imageQueries: number;
}

export { packageRoot };

let cached: NativeAddon | undefined;
let cachedPath: string | undefined;

export function native(): NativeAddon {
  if (cached) return cached;
  const require = createRequire(path.join(packageRoot, 'package.json'));
  let file: string | undefined;
  try {
    const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };
    file = nodeGypBuild.resolve(process.env.BLINDSIGHT_PREBUILD || packageRoot);
    cached = require(file) as NativeAddon;
    cachedPath = file;
  } catch (e) {
    throw new BlindsightError('NATIVE_LOAD_FAILED', loadFailureMessage(e, file), { cause: e });
  }
  return cached;
}

/** The addon binary this process loaded (a prebuilt one under prebuilds/, or a local build under build/). */
export function nativeAddonPath(): string {
  native();
  return cachedPath as string;
}

/**
 * Says why the addon did not load and what to do about it, one remedy per likely cause (the shape of sharp's loader
 * message): no binary for this platform, a binary this system cannot run, or addons switched off.
 */
export function loadFailureMessage(e: unknown, file: string | undefined): string {
  const err = e as (Error & { code?: string }) | undefined;
  const reason = (err?.message ?? String(e)).trim();
  const code = typeof err?.code === 'string' ? err.code : undefined;
  const target = `${process.platform}-${process.arch}`;
  const glibc = glibcVersion();
  const lines = [
    `Could not load the blindsight native addon for ${target} (Node ${process.version}, Node-API ${process.versions.napi}` +
      `${glibc ? `, glibc ${glibc}` : ''}).`,
    file ? `  While loading: ${file}` : '  No binary matched: neither a prebuilt one for this platform nor a local build.',
    `  Reason: ${code ? `${code}: ` : ''}${reason.split('\n').join('\n    ')}`,
    'Possible solutions:',
  ];
  const buildFromSource = [
    `- Build it from source (needs ${buildPrerequisites(process.platform)}):`,
    '    npm rebuild blindsight --build-from-source',
    '  (in a checkout of the repository: npm run build:native)',
  ];
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 20) {
    lines.push('- Upgrade Node.js: blindsight needs Node 20 or newer.');
  } else if (code === 'ERR_DLOPEN_DISABLED') {
    lines.push('- Run Node.js without the --no-addons flag: blindsight is a native addon.');
  } else if (!file) {
    const shipped = prebuiltTargets();
    lines.push(
      shipped.length > 0
        ? `- This package ships prebuilt binaries for ${shipped.join(', ')} only (Linux ones need glibc >= 2.28); on ${target} it must be compiled.`
        : '- This copy of the package has no prebuilt binaries, so `npm install` must have compiled the addon.',
      '- If `npm install` ran with --ignore-scripts, the compile step was skipped: run `npm rebuild blindsight`.',
      ...buildFromSource,
    );
  } else if (/GLIBC_|GLIBCXX_|CXXABI_/.test(reason)) {
    lines.push(
      `- The binary needs a newer C or C++ runtime library than this system has${glibc ? ` (glibc ${glibc})` : ''}: update the OS, or`,
      ...buildFromSource,
    );
  } else if (/invalid ELF header|wrong ELF class|ELF file|file too short|not a valid Win32|wrong architecture|incompatible architecture|mach-o/i.test(reason)) {
    lines.push(
      '- The binary is damaged or was built for another platform or architecture (node_modules copied from another machine?).',
      '  Reinstall on this machine: rm -rf node_modules && npm install',
    );
  } else {
    lines.push('- Reinstall the package (npm rebuild blindsight), or', ...buildFromSource);
  }
  lines.push(
    '- Or point BLINDSIGHT_PREBUILD at a directory holding prebuilds/<platform>-<arch>/ or build/Release/ with a working binary.',
    '- See README.md, "Installing".',
  );
  return lines.join('\n');
}

/** What a source build needs on each platform (binding.gyp: node-gyp with a C++20 compiler). */
export function buildPrerequisites(platform: string): string {
  switch (platform) {
    case 'darwin':
      return 'python3 and the Xcode command line tools, `xcode-select --install`: Apple clang 14 or newer';
    case 'win32':
      return 'python3 and Visual Studio 2022 (or its Build Tools) with the "Desktop development with C++" workload';
    default:
      return 'python3, make and a C++20 compiler such as g++ >= 10 or clang >= 13';
  }
}

function prebuiltTargets(): string[] {
  try {
    return readdirSync(path.join(packageRoot, 'prebuilds'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return [];
  }
}

function glibcVersion(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
    return header?.glibcVersionRuntime;
  } catch {
    return undefined;
  }
}
