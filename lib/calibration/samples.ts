/**
 * Calibration samples: one prompt's layout plus, for every layer, its post-RoPE queries and keys. On disk a sample is
 * a safetensors file with this naming convention (docs/calibration.md, "Capturing calibration samples"):
 *  - `layers.{i}.q`: [numTokens, numHeads, headDim], `layers.{i}.k`: [numTokens, numKvHeads, headDim], for i = 0 ..
 *    numLayers - 1, all F32, F16 or BF16 (one dtype per file);
 *  - the layout: metadata `blindsight.segments` (the JSON that Layout.fromSegments takes), or a tensor `input_ids`
 *    ([numTokens] or [1, numTokens], integer) with a template (metadata `blindsight.template`, or the caller's);
 *  - optional metadata: `blindsight.global_sinks` (integer, default 1), `blindsight.scale` (the model's softmax scale
 *    when it is not 1/sqrt(headDim), e.g. Gemma 3 27B's 168^-0.5), `blindsight.model`.
 */
import { checkGqa } from '../attention/args.js';
import { BlindsightError, typeError, rangeError, show } from '../core/errors.js';
import { Layout } from '../core/layout.js';
import type { TensorDType } from './mass.js';
import { SafetensorsFile, type SafetensorsDType, type TensorInfo } from '../io/safetensors.js';
import type { TemplateName, TokenTemplate } from '../core/templates.js';

export const SAMPLE_META = Object.freeze({
  segments: 'blindsight.segments',
  template: 'blindsight.template',
  globalSinks: 'blindsight.global_sinks',
  scale: 'blindsight.scale',
  model: 'blindsight.model',
});
export const INPUT_IDS_TENSOR = 'input_ids';
export const layerTensorName = (layer: number, which: 'q' | 'k'): string => `layers.${layer}.${which}`;

export interface LayerTensors {
  q: Float32Array | Uint16Array;
  k: Float32Array | Uint16Array;
}

/** What calibration consumes: a layout, a head shape, and each layer's Q and K on demand. */
export interface CalibrationSample {
  name: string;
  layout: Layout;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  dtype: TensorDType;
  /** Softmax scale if the sample names one (else the caller's, else 1/sqrt(headDim)). */
  scale?: number;
  model?: string;
  readLayer(layer: number): Promise<LayerTensors>;
  close?(): Promise<void>;
}

export interface OpenSampleOptions {
  /** Template for `input_ids` when the file's metadata names none. */
  template?: TemplateName | TokenTemplate;
  /** Overrides the file's `blindsight.global_sinks`. */
  globalSinks?: number;
  /** Use this layout instead of the file's. */
  layout?: Layout;
}

const DTYPES: Partial<Record<SafetensorsDType, TensorDType>> = { F32: 'f32', F16: 'f16', BF16: 'bf16' };

/** Opens a safetensors calibration sample and checks it completely (names, shapes, dtypes, layout) before use. */
export async function openSample(path: string, options: OpenSampleOptions = {}): Promise<CalibrationSample> {
  const file = await SafetensorsFile.open(path);
  try {
    const { numTokens, ...sample } = describeSample(file);
    return { ...sample, layout: await sampleLayout(file, numTokens, options) };
  } catch (e) {
    await file.close();
    throw e;
  }
}

function describeSample(file: SafetensorsFile): Omit<CalibrationSample, 'layout'> & { numTokens: number } {
  const where = file.path;
  const layers = new Map<number, { q?: TensorInfo; k?: TensorInfo }>();
  for (const t of file.tensors.values()) {
    const m = /^layers\.(\d+)\.(q|k)$/.exec(t.name);
    if (!m) continue;
    const l = Number(m[1]);
    const entry = layers.get(l) ?? {};
    entry[m[2] as 'q' | 'k'] = t;
    layers.set(l, entry);
  }
  if (layers.size === 0)
    throw new BlindsightError('MISSING_LAYER', `${where}: no layers.{i}.q / layers.{i}.k tensors (see docs/calibration.md, "Capturing calibration samples")`);
  const numLayers = Math.max(...layers.keys()) + 1;
  const q0 = layers.get(0)?.q;
  for (let l = 0; l < numLayers; l++) {
    const e = layers.get(l);
    for (const which of ['q', 'k'] as const)
      if (!e?.[which]) throw new BlindsightError('MISSING_LAYER', `${where}: tensor ${layerTensorName(l, which)} is missing (layers 0..${numLayers - 1} need both q and k)`);
  }
  const shapeOf = (t: TensorInfo, which: string) => {
    if (t.shape.length !== 3)
      throw new BlindsightError('SHAPE_MISMATCH', `${where}: ${t.name} has shape ${show(t.shape)}; expected [numTokens, ${which}, headDim]`);
    return t.shape as [number, number, number];
  };
  const [numTokens, numHeads, headDim] = shapeOf(q0!, 'numHeads');
  const dtype = DTYPES[q0!.dtype];
  if (!dtype) throw new BlindsightError('UNSUPPORTED_DTYPE', `${where}: ${q0!.name} is ${q0!.dtype}; Q and K must be F32, F16 or BF16`);
  let numKvHeads = 0;
  for (let l = 0; l < numLayers; l++) {
    const { q, k } = layers.get(l)!;
    for (const t of [q!, k!]) {
      if (t.dtype !== q0!.dtype)
        throw new BlindsightError('UNSUPPORTED_DTYPE', `${where}: ${t.name} is ${t.dtype} but ${q0!.name} is ${q0!.dtype}; use one dtype for all of Q and K`);
    }
    const [nq, hq, dq] = shapeOf(q!, 'numHeads');
    const [nk, hk, dk] = shapeOf(k!, 'numKvHeads');
    if (nq !== numTokens || hq !== numHeads || dq !== headDim)
      throw new BlindsightError('SHAPE_MISMATCH', `${where}: ${q!.name} has shape ${show(q!.shape)}; ${q0!.name} has ${show(q0!.shape)}`);
    if (nk !== numTokens || dk !== headDim)
      throw new BlindsightError('SHAPE_MISMATCH', `${where}: ${k!.name} has shape ${show(k!.shape)}; expected [${numTokens}, numKvHeads, ${headDim}] like the queries`);
    if (l === 0) numKvHeads = hk;
    else if (hk !== numKvHeads)
      throw new BlindsightError('SHAPE_MISMATCH', `${where}: ${k!.name} has ${hk} KV heads; layer 0 has ${numKvHeads}`);
  }
  checkGqa(numHeads, numKvHeads, where);
  if (headDim < 1 || headDim > 1024) throw new BlindsightError('SHAPE_MISMATCH', `${where}: head dim ${headDim} is outside [1, 1024]`);

  const meta = file.metadata;
  const scale = meta[SAMPLE_META.scale] === undefined ? undefined : Number(meta[SAMPLE_META.scale]);
  if (scale !== undefined && !(Number.isFinite(scale) && scale > 0))
    throw new BlindsightError('BAD_SAMPLE', `${where}: metadata ${SAMPLE_META.scale} must be a positive number, got ${show(meta[SAMPLE_META.scale])}`);
  return {
    name: where,
    numLayers,
    numTokens,
    numHeads,
    numKvHeads,
    headDim,
    dtype,
    scale,
    model: meta[SAMPLE_META.model],
    readLayer: async (layer: number) => {
      if (!Number.isInteger(layer) || layer < 0 || layer >= numLayers) throw rangeError(`layer must be in [0, ${numLayers - 1}], got ${String(layer)}`);
      const q = (await file.read(layerTensorName(layer, 'q'))) as Float32Array | Uint16Array;
      const k = (await file.read(layerTensorName(layer, 'k'))) as Float32Array | Uint16Array;
      return { q, k };
    },
    close: () => file.close(),
  };
}

/** Resolves a sample's layout from its file (segments metadata, or input_ids with a template) and checks its size. */
async function sampleLayout(file: SafetensorsFile, numTokens: number, options: OpenSampleOptions): Promise<Layout> {
  const where = file.path;
  const meta = file.metadata;
  let globalSinks = options.globalSinks;
  if (globalSinks === undefined && meta[SAMPLE_META.globalSinks] !== undefined) {
    globalSinks = Number(meta[SAMPLE_META.globalSinks]);
    if (!Number.isSafeInteger(globalSinks) || globalSinks < 0)
      throw new BlindsightError('BAD_SAMPLE', `${where}: metadata ${SAMPLE_META.globalSinks} must be a non-negative integer`);
  }
  let layout: Layout;
  if (options.layout) {
    layout = options.layout;
  } else if (meta[SAMPLE_META.segments] !== undefined) {
    let segments: unknown;
    try {
      segments = JSON.parse(meta[SAMPLE_META.segments]!);
    } catch (e) {
      throw new BlindsightError('BAD_SEGMENTS', `${where}: metadata ${SAMPLE_META.segments} is not valid JSON (${(e as Error).message})`);
    }
    layout = Layout.fromSegments(segments as never, { globalSinks });
  } else if (file.has(INPUT_IDS_TENSOR)) {
    const info = file.info(INPUT_IDS_TENSOR);
    if (!['I64', 'I32', 'U32', 'U64', 'I16', 'U16'].includes(info.dtype))
      throw new BlindsightError('BAD_SAMPLE', `${where}: input_ids is ${info.dtype}; expected an integer dtype`);
    const flat = info.shape.length === 1 || (info.shape.length === 2 && info.shape[0] === 1);
    if (!flat) throw new BlindsightError('SHAPE_MISMATCH', `${where}: input_ids has shape ${show(info.shape)}; expected [numTokens] or [1, numTokens]`);
    const template = (meta[SAMPLE_META.template] as TemplateName | undefined) ?? options.template;
    if (template === undefined)
      throw new BlindsightError('MISSING_LAYOUT', `${where}: input_ids needs a template (metadata ${SAMPLE_META.template}, or --template)`);
    const raw = await file.read(INPUT_IDS_TENSOR);
    const ids = Array.from(raw as ArrayLike<number | bigint>, (x) => Number(x));
    layout = Layout.fromTokenIds(ids, template, { globalSinks });
  } else {
    throw new BlindsightError(
      'MISSING_LAYOUT',
      `${where}: no layout: add metadata ${SAMPLE_META.segments} (segments JSON) or an input_ids tensor with a template`,
    );
  }
  if (layout.numTokens !== numTokens)
    throw new BlindsightError('LAYOUT_MISMATCH', `${where}: the layout has ${layout.numTokens} tokens but the Q/K tensors have ${numTokens}`);
  return layout;
}

/** A sample held in memory (e.g. tensors captured in-process); validated like a file. */
export function memorySample(s: {
  name?: string;
  layout: Layout;
  layers: readonly LayerTensors[];
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  dtype?: TensorDType;
  scale?: number;
  model?: string;
}): CalibrationSample {
  if (!(s.layout instanceof Layout)) throw typeError('layout must be a Layout');
  const name = s.name ?? 'sample';
  const dtype = s.dtype ?? 'f32';
  if (!Array.isArray(s.layers) || s.layers.length === 0) throw new BlindsightError('MISSING_LAYER', `${name}: no layers`);
  for (const [n, v] of [['numHeads', s.numHeads], ['numKvHeads', s.numKvHeads], ['headDim', s.headDim]] as const)
    if (!Number.isInteger(v) || v < 1) throw rangeError(`${name}: ${n} must be a positive integer, got ${String(v)}`);
  checkGqa(s.numHeads, s.numKvHeads, name);
  const n = s.layout.numTokens;
  const Want = dtype === 'f32' ? Float32Array : Uint16Array;
  s.layers.forEach((t, l) => {
    for (const [which, x, heads] of [['q', t?.q, s.numHeads], ['k', t?.k, s.numKvHeads]] as const) {
      if (!(x instanceof Want)) throw typeError(`${name}: layer ${l} ${which} must be a ${Want.name} for dtype ${dtype}`);
      if (x.length !== n * heads * s.headDim)
        throw new BlindsightError(
          'LAYOUT_MISMATCH',
          `${name}: layer ${l} ${which} has ${x.length} elements; the layout's ${n} tokens x ${heads} heads x ${s.headDim} need ${n * heads * s.headDim}`,
        );
    }
  });
  const layers = [...s.layers];
  return {
    name,
    layout: s.layout,
    numLayers: layers.length,
    numHeads: s.numHeads,
    numKvHeads: s.numKvHeads,
    headDim: s.headDim,
    dtype,
    scale: s.scale,
    model: s.model,
    readLayer: async (layer) => {
      const t = layers[layer];
      if (!t) throw rangeError(`layer must be in [0, ${layers.length - 1}], got ${String(layer)}`);
      return t;
    },
  };
}
