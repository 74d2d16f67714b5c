import { describe, expect, it } from 'vitest';
import { HeadPolicy, Layout, type HeadCategory, type Segment } from '../../dist/index.js';
import { calibrate, calibrationStats, memorySample, retainedMass, rethreshold, type CalibrationProgress } from '../../dist/calibration/index.js';
import { refMass } from '../oracle/mass_reference.js';
import { plantedQk, type Planted } from '../helpers/planted.js';
import { mulberry32, randomNormal, refLayout } from '../oracle/reference.js';

const PLANTS: Planted[] = ['intra-image', 'sink', 'intra-image+sink', 'dense'];
const LAYOUTS: { segments: Segment[][]; globalSinks: number }[] = [
  {
    segments: [[
      { kind: 'text', length: 12 }, { kind: 'image', length: 70 }, { kind: 'text', length: 4 }, { kind: 'image', length: 90 },
      { kind: 'text', length: 6 }, { kind: 'image', length: 60 }, { kind: 'image', length: 80 }, { kind: 'text', length: 10 },
    ]],
    globalSinks: 1,
  },
  {
    segments: [
      [{ kind: 'text', length: 20 }, { kind: 'image', length: 100 }, { kind: 'text', length: 3 }, { kind: 'image', length: 50 },
        { kind: 'text', length: 3 }, { kind: 'image', length: 120 }, { kind: 'text', length: 8 }],
      [{ kind: 'text', length: 5 }, { kind: 'image', length: 60 }, { kind: 'image', length: 60 }, { kind: 'image', length: 60 }, { kind: 'text', length: 5 }],
    ],
    globalSinks: 1,
  },
  {
    segments: [[
      { kind: 'text', length: 3 }, { kind: 'image', length: 40 }, { kind: 'text', length: 2 }, { kind: 'image', length: 40 },
      { kind: 'text', length: 2 }, { kind: 'image', length: 40 }, { kind: 'text', length: 2 }, { kind: 'image', length: 40 },
      { kind: 'text', length: 2 }, { kind: 'image', length: 40 }, { kind: 'text', length: 15 },
    ]],
    globalSinks: 2,
  },
];
const NUM_LAYERS = 3;
const NUM_HEADS = 8;
const NUM_KV = 4;
const HEAD_DIM = 16;
const planted = (l: number, h: number): Planted => PLANTS[(h + l) % 4]!;

function plantedSamples() {
  return LAYOUTS.map(({ segments, globalSinks }, s) => {
    const layout = Layout.fromSegments(segments, { globalSinks });
    const layers = Array.from({ length: NUM_LAYERS }, (_, l) =>
      plantedQk(layout, Array.from({ length: NUM_HEADS }, (_, h) => planted(l, h)), NUM_KV, HEAD_DIM, 100 * s + l),
    );
    return memorySample({ name: `planted-${s}`, layout, layers, numHeads: NUM_HEADS, numKvHeads: NUM_KV, headDim: HEAD_DIM, scale: 1 });
  });
}

describe('calibration recovers planted heads', () => {
  it('every planted category, over several layouts, with progress reports', async () => {
    const progress: CalibrationProgress[] = [];
    const policy = await calibrate(plantedSamples(), { model: 'planted', onProgress: (p) => progress.push(p) });
    const expected = Array.from({ length: NUM_LAYERS }, (_, l) => Array.from({ length: NUM_HEADS }, (_, h) => planted(l, h)));
    expect(policy.toJSON().categories).toEqual(expected);
    expect(policy.model).toBe('planted');
    expect(progress).toHaveLength(LAYOUTS.length * NUM_LAYERS);
    expect(progress.at(-1)!.done).toBe(progress.at(-1)!.total);
    expect(progress.every((p, i) => i === 0 || p.done > progress[i - 1]!.done)).toBe(true);

    // The statistics explain the choice: the planted category passes, every cheaper one fails.
    const stats = calibrationStats(policy);
    expect(stats.samples.map((s) => s.imageQueries)).toEqual(LAYOUTS.map(({ segments }) =>
      segments.flat().filter((s) => s.kind === 'image').reduce((a, s) => a + s.length, 0)));
    const order: HeadCategory[] = ['sink', 'intra-image', 'intra-image+sink', 'dense'];
    expect(order.map((c) => stats.keptRatio.textKeys[c])).toEqual([...order.map((c) => stats.keptRatio.textKeys[c])].sort((a, b) => a - b));
    for (let l = 0; l < NUM_LAYERS; l++) {
      for (let h = 0; h < NUM_HEADS; h++) {
        const mass = stats.mass[l]![h]!;
        expect(mass.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
        const want = planted(l, h);
        expect(retainedMass(mass, want)).toBeGreaterThanOrEqual(0.95);
        for (const cheaper of order.slice(0, order.indexOf(want))) expect(retainedMass(mass, cheaper)).toBeLessThan(0.95);
      }
    }
  });

  it('pins layers dense; re-thresholds from the stored statistics alone', async () => {
    const policy = await calibrate(plantedSamples(), { pinFirst: 1, pinLayers: [2] });
    expect(policy.layer(0).every((c) => c === 'dense')).toBe(true);
    expect(policy.layer(2).every((c) => c === 'dense')).toBe(true);
    expect(policy.layer(1)).toEqual(Array.from({ length: NUM_HEADS }, (_, h) => planted(1, h)));

    // Through JSON and back, as a user would re-threshold a saved file.
    const saved = HeadPolicy.parse(JSON.stringify(policy.toJSON()));
    const unpinned = rethreshold(saved, { pinFirst: 0, pinLayers: [] });
    expect(unpinned.toJSON().categories).toEqual(Array.from({ length: NUM_LAYERS }, (_, l) => Array.from({ length: NUM_HEADS }, (_, h) => planted(l, h))));
    const lax = rethreshold(unpinned, { tau: 0, worstTau: 0 });
    expect(lax.counts()).toEqual({ dense: 0, sink: NUM_LAYERS * NUM_HEADS, 'intra-image': 0, 'intra-image+sink': 0 });
    const strict = rethreshold(unpinned, { tau: 1, worstTau: 1 });
    expect(strict.counts().dense).toBe(NUM_LAYERS * NUM_HEADS);
    expect(calibrationStats(strict).threshold).toBe(1);
    // Without text keys the planted categories are still the right ones.
    const noText = rethreshold(unpinned, { textKeys: false });
    expect(noText.toJSON().categories).toEqual(unpinned.toJSON().categories);
    // The worst-sample guard alone can force a head dense.
    const guarded = rethreshold(unpinned, { tau: 0, worstTau: 1 });
    expect(guarded.counts().dense).toBe(NUM_LAYERS * NUM_HEADS);
  });

  it('pooled mass fractions match the float64 reference', async () => {
    const rng = mulberry32(5);
    const segs: Segment[][][] = [
      [[{ kind: 'text', length: 5 }, { kind: 'image', length: 20 }, { kind: 'text', length: 3 }, { kind: 'image', length: 25 }]],
      [[{ kind: 'image', length: 30 }, { kind: 'text', length: 4 }, { kind: 'image', length: 9 }, { kind: 'text', length: 2 }]],
    ];
    const H = 2, D = 8;
    const sums = new Float64Array(H * 7);
    let queries = 0;
    const samples = segs.map((s, i) => {
      const layout = Layout.fromSegments(s);
      const q = randomNormal(rng, layout.numTokens * H * D, 1.5);
      const k = randomNormal(rng, layout.numTokens * H * D, 1.5);
      const ref = refMass({ q, k, layout: refLayout(s), numHeads: H, numKvHeads: H, headDim: D, options: { textKeys: true, bidirectionalImages: true, window: 17 } });
      for (let t = 0; t < layout.numTokens; t++) {
        if (layout.imageIds[t]! < 0) continue;
        queries++;
        for (let j = 0; j < H * 7; j++) sums[j]! += ref[t * H * 7 + j]!;
      }
      return memorySample({ name: `s${i}`, layout, layers: [{ q, k }], numHeads: H, numKvHeads: H, headDim: D });
    });
    const policy = await calibrate(samples, { bidirectionalImages: true, window: 17 });
    const stats = calibrationStats(policy);
    for (let h = 0; h < H; h++) for (let b = 0; b < 7; b++) expect(Math.abs(stats.mass[0]![h]![b]! - sums[h * 7 + b]! / queries)).toBeLessThan(1e-5);
    expect(stats.bidirectionalImages).toBe(true);
    expect(stats.window).toBe(17);
  });
});

describe('calibration input errors', () => {
  const layout = Layout.fromSegments([{ kind: 'text', length: 4 }, { kind: 'image', length: 8 }]);
  const tensors = (n: number, heads: number) => new Float32Array(n * heads * 8);
  it('rejects mismatched samples, token counts, thresholds and pins', async () => {
    const a = memorySample({ layout, layers: [{ q: tensors(12, 2), k: tensors(12, 1) }], numHeads: 2, numKvHeads: 1, headDim: 8 });
    const b = memorySample({ layout, layers: [{ q: tensors(12, 4), k: tensors(12, 1) }], numHeads: 4, numKvHeads: 1, headDim: 8 });
    await expect(calibrate([a, b])).rejects.toMatchObject({ code: 'SHAPE_MISMATCH' });
    expect(() => memorySample({ layout, layers: [{ q: tensors(11, 2), k: tensors(12, 1) }], numHeads: 2, numKvHeads: 1, headDim: 8 })).toThrow(
      expect.objectContaining({ code: 'LAYOUT_MISMATCH' }),
    );
    expect(() => memorySample({ layout, layers: [], numHeads: 2, numKvHeads: 1, headDim: 8 })).toThrow(expect.objectContaining({ code: 'MISSING_LAYER' }));
    await expect(calibrate([a], { tau: 1.5 })).rejects.toThrow(RangeError);
    await expect(calibrate([a], { pinLayers: [3] })).rejects.toThrow(RangeError);
    await expect(calibrate([])).rejects.toThrow(TypeError);
    const textOnly = Layout.fromSegments([{ kind: 'text', length: 12 }]);
    const c = memorySample({ layout: textOnly, layers: [{ q: tensors(12, 2), k: tensors(12, 1) }], numHeads: 2, numKvHeads: 1, headDim: 8 });
    await expect(calibrate([c])).rejects.toMatchObject({ code: 'NO_IMAGE_QUERIES' });
    expect(() => rethreshold(HeadPolicy.uniform(1, 2, 'dense'))).toThrow(expect.objectContaining({ code: 'BAD_POLICY' }));
  });
});
