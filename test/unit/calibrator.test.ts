/**
 * The pieces around the calibrator: the native category choice against the rule as the TypeScript layer wrote it,
 * samples that carry values, the calibrator's option checks, and the policy picture coloured by output error.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HEAD_CATEGORIES, HeadPolicy, type HeadCategory } from '../../dist/index.js';
import {
  Calibrator,
  chooseCategories,
  openSample,
  outputErrorStats,
  retainedMass,
  writeSafetensors,
  type CalibrationStats,
  type OutputErrorStats,
} from '../../dist/calibration/index.js';
import { policySvg } from '../../dist/report/index.js';
import { mulberry32 } from '../oracle/reference.js';

const dir = mkdtempSync(path.join(tmpdir(), 'bs-calibrator-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The choice as lib/calibration/calibrate.ts made it in TypeScript before the native one replaced it. */
function chooseInTs(stats: CalibrationStats, t: { tau: number; worstTau: number; textKeys: boolean; pinned: Set<number> }): HeadCategory[][] {
  const tk = t.textKeys ? 'textKeys' : 'noTextKeys';
  const kept = stats.keptRatio[tk];
  const sparse = HEAD_CATEGORIES.filter((c) => c !== 'dense');
  return stats.mass.map((row, l) =>
    row.map((mass, h) => {
      if (t.pinned.has(l)) return 'dense';
      const candidates = sparse
        .map((c) => ({ c, kept: kept[c], retained: retainedMass(mass, c, t.textKeys), worst: stats.worstSample[tk][l]![h]![HEAD_CATEGORIES.indexOf(c)]! }))
        .sort((a, b) => a.kept - b.kept || b.retained - a.retained);
      return candidates.find((x) => x.retained >= t.tau && x.worst >= t.worstTau)?.c ?? 'dense';
    }),
  );
}

function randomStats(seed: number, L: number, H: number): CalibrationStats {
  const rng = mulberry32(seed);
  // Few distinct values, so that ties (in kept pairs, retained mass and thresholds) happen.
  const pick = (xs: number[]) => xs[Math.floor(rng() * xs.length)]!;
  const row = () => {
    const raw = Array.from({ length: 7 }, () => pick([0, 0.01, 0.05, 0.1, 0.3, 0.5]));
    const total = raw.reduce((a, b) => a + b, 0) || 1;
    return raw.map((x) => Math.round((x / total) * 1e6) / 1e6);
  };
  const kept = () => ({ dense: 1, sink: pick([0.06, 0.18]), 'intra-image': pick([0.18, 0.2]), 'intra-image+sink': pick([0.18, 0.2, 0.21]) });
  const grid = <T>(f: () => T) => Array.from({ length: L }, () => Array.from({ length: H }, f));
  return {
    version: 1, threshold: 0.95, worstSampleThreshold: 0.9, textKeys: true, bidirectionalImages: false, window: null,
    pinned: { first: 0, last: 0, layers: [] }, buckets: [], samples: [],
    keptRatio: { textKeys: kept(), noTextKeys: kept() },
    mass: grid(row),
    worstSample: { textKeys: grid(() => [1, pick([0.8, 0.9, 0.95]), pick([0.8, 0.9]), pick([0.85, 0.95])]), noTextKeys: grid(() => [1, pick([0.8, 0.9]), 0.9, pick([0.8, 0.95])]) },
  };
}

describe('the category choice', () => {
  it('is the rule the TypeScript layer applied, ties, pins and both textKeys settings included', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const stats = randomStats(seed, 5, 6);
      const rng = mulberry32(seed * 31);
      const tau = [0, 0.5, 0.8, 0.9, 0.95, 1][seed % 6]!;
      const worstTau = [0, 0.85, 0.9, 0.95][seed % 4]!;
      const textKeys = seed % 2 === 0;
      const pinLayers = rng() < 0.5 ? [Math.floor(rng() * 5)] : [];
      const pinFirst = seed % 3 === 0 ? 1 : 0, pinLast = seed % 5 === 0 ? 2 : 0;
      const pinned = new Set([...pinLayers, ...Array.from({ length: pinFirst }, (_, i) => i), ...Array.from({ length: pinLast }, (_, i) => 4 - i)]);
      expect(chooseCategories(stats, { tau, worstTau, textKeys, pinLayers, pinFirst, pinLast }), `seed ${seed}`).toEqual(chooseInTs(stats, { tau, worstTau, textKeys, pinned }));
    }
  });
});

describe('samples with values', () => {
  const n = 12, shape = (h: number) => [n, h, 8];
  const meta = { 'blindsight.segments': JSON.stringify([{ kind: 'text', length: 4 }, { kind: 'image', length: 8 }]) };
  const t = (h: number, x: number) => ({ dtype: 'F32' as const, shape: shape(h), data: new Float32Array(n * h * 8).fill(x) });

  it('reads v with every layer, on request', async () => {
    const file = path.join(dir, 'values.safetensors');
    await writeSafetensors(file, { 'layers.0.q': t(2, 1), 'layers.0.k': t(1, 2), 'layers.0.v': t(1, 3), 'layers.1.q': t(2, 1), 'layers.1.k': t(1, 2), 'layers.1.v': t(1, 4) }, meta);
    const s = await openSample(file);
    expect(s.hasValues).toBe(true);
    expect((await s.readLayer(1)).v).toBeUndefined();
    expect((await s.readLayer(1, true)).v![0]).toBe(4);
    await s.close!();
  });

  it('refuses values on some layers only, of another shape, or asked of a sample without them', async () => {
    const partial = path.join(dir, 'partial.safetensors');
    await writeSafetensors(partial, { 'layers.0.q': t(2, 1), 'layers.0.k': t(1, 2), 'layers.0.v': t(1, 3), 'layers.1.q': t(2, 1), 'layers.1.k': t(1, 2) }, meta);
    await expect(openSample(partial)).rejects.toMatchObject({ code: 'MISSING_LAYER' });
    const wrong = path.join(dir, 'wrong.safetensors');
    await writeSafetensors(wrong, { 'layers.0.q': t(2, 1), 'layers.0.k': t(1, 2), 'layers.0.v': t(2, 3) }, meta);
    await expect(openSample(wrong)).rejects.toMatchObject({ code: 'SHAPE_MISMATCH' });
    const none = path.join(dir, 'none.safetensors');
    await writeSafetensors(none, { 'layers.0.q': t(2, 1), 'layers.0.k': t(1, 2) }, meta);
    const s = await openSample(none);
    expect(s.hasValues).toBe(false);
    await expect(s.readLayer(0, true)).rejects.toMatchObject({ code: 'MISSING_TENSOR' });
    await s.close!();
  });
});

describe('Calibrator options', () => {
  const base = { numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16 };
  it('are checked with the codes attention() gives the same values', () => {
    expect(() => new Calibrator(undefined as never)).toThrow(TypeError);
    expect(() => new Calibrator({ ...base, numLayers: 0 })).toThrow(RangeError);
    expect(() => new Calibrator({ ...base, numHeads: 70000 })).toThrow(expect.objectContaining({ code: 'BAD_HEAD_COUNT' }));
    expect(() => new Calibrator({ ...base, headDim: 2000 })).toThrow(expect.objectContaining({ code: 'BAD_HEAD_DIM' }));
    expect(() => new Calibrator({ ...base, window: 0 })).toThrow(expect.objectContaining({ code: 'BAD_WINDOW' }));
    expect(() => new Calibrator({ ...base, textKeys: 'yes' as never })).toThrow(TypeError);
    expect(() => new Calibrator({ ...base, scale: Number.POSITIVE_INFINITY })).toThrow(RangeError);
    expect(() => new Calibrator({ ...base, isa: 'avx9000' as never })).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_ISA' }));
    using c = new Calibrator({ ...base, window: 64, headDim: 3 });
    expect(c.options).toMatchObject({ window: 64, textKeys: true, outputError: false, mass: true });
    expect(() => c.policy({ tau: 2 })).toThrow(RangeError);
    expect(() => c.policy({ pinLayers: [2] })).toThrow(RangeError);
  });
});

describe('the policy picture coloured by output error', () => {
  const policy = new HeadPolicy([['dense', 'sink'], ['intra-image', 'intra-image+sink']]);
  const errors: OutputErrorStats = {
    textKeys: true, observations: [1, 1], rows: [[4, 4], [4, 4]],
    squaredNorm: [[1, 1], [1, 0]],
    squaredError: [[[0, 0.01, 0.04, 1], [0, 1e-8, 4, 0.25]], [[0, 1, 0.0004, 1], [0, 0, 0, 0]]],
  };
  it('colours each head by its error under its category, with the errors in the tooltips', () => {
    const svg = policySvg(policy, { colorBy: 'error', errors });
    expect(svg).toContain('output error (relative L2)');
    expect(svg).toContain('layer 0, head 1: sink; output error: dense 0, sink 0.000100, intra-image 2.00, intra-image+sink 0.500');
    expect(svg).toContain('layer 1, head 0: intra-image; output error: dense 0, sink 1.00, intra-image 0.0200');
    expect(policySvg(policy)).not.toContain('output error');
  });
  it('needs errors of the policy\'s shape', () => {
    expect(() => policySvg(policy, { colorBy: 'error' })).toThrow(expect.objectContaining({ code: 'BAD_POLICY' }));
    expect(() => policySvg(policy, { colorBy: 'error', errors: { ...errors, squaredNorm: [[1, 1]] } })).toThrow(expect.objectContaining({ code: 'BAD_POLICY' }));
    expect(() => policySvg(policy, { colorBy: 'errors' as never })).toThrow(TypeError);
    expect(() => outputErrorStats({ outputError: { ...errors, rows: [[1]] } } as never, 2, 2)).toThrow(expect.objectContaining({ code: 'BAD_POLICY' }));
    expect(outputErrorStats({ outputError: errors } as never, 2, 2)).toBe(errors);
  });
});

describe('hostile observations', () => {
  it('every malformed field is a coded error, and the calibrator stays usable', async () => {
    const { Layout, MaskPlan } = await import('../../dist/index.js');
    const layout = Layout.fromSegments([{ kind: 'text', length: 5 }, { kind: 'image', length: 11 }]);
    const plan = MaskPlan.build(layout);
    using c = new Calibrator({ numLayers: 1, numHeads: 2, numKvHeads: 1, headDim: 8 });
    const q = new Float32Array(16 * 16), k = new Float32Array(16 * 8);
    const junk = [undefined, null, NaN, -1, 1.5, 2 ** 40, 'x', {}, [], () => 0, Symbol('s'), 10n, true, new Float64Array(4), new Uint16Array(q.length)];
    const fields = ['layer', 'plan', 'q', 'k', 'v', 'dtype', 'out', 'scale', 'sample', 'threads', 'isa'] as const;
    let failures = 0;
    for (const field of fields)
      for (const x of junk) {
        const args = { layer: 0, plan, q, k, [field]: x };
        try {
          c.observeSync(args as never);
        } catch (e) {
          failures++;
          expect(e instanceof TypeError || e instanceof RangeError || (e as Error).name === 'BlindsightError', `${field} = ${String(x)}`).toBe(true);
          expect(typeof (e as { code?: unknown }).code).toBe('string');
        }
      }
    expect(failures).toBeGreaterThan(fields.length * 5);
    await expect(c.observe(null as never)).rejects.toThrow(TypeError);
    await c.observe({ layer: 0, plan, q: new Uint16Array(q.length), k: new Uint16Array(k.length), dtype: 'bf16' });
    expect(c.stats().samples).toHaveLength(1);
  });
});

describe('evaluationOf', () => {
  it('pools heads per layer, and gives no error for a layer no observation measured', async () => {
    const { evaluationOf } = await import('../../dist/calibration/index.js');
    const policy = new HeadPolicy([['sink', 'dense'], ['sink', 'sink']]);
    const e = evaluationOf(policy, {
      textKeys: true, observations: [1, 0], rows: [[2, 2], [0, 0]], squaredNorm: [[4, 12], [0, 0]],
      squaredError: [[[0, 1, 2, 3], [0, 4, 5, 6]], [[0, 0, 0, 0], [0, 0, 0, 0]]],
    }, () => 0.5);
    expect(e.layers[0]!.relativeError).toBeCloseTo(Math.sqrt(1 / 16), 15);
    expect(e.layers[0]!.heads[1]!.perCategory.sink).toBeCloseTo(Math.sqrt(4 / 12), 15);
    expect(e.layers[0]!.uniform['intra-image']).toBeCloseTo(Math.sqrt(7 / 16), 15);
    expect(e.layers[1]!.relativeError).toBeNull();
    expect(e.layers[1]!.heads[0]!.relativeError).toBeNull();
    expect(e.relativeError).toBeCloseTo(Math.sqrt(1 / 16), 15);
    expect(e.keptRatio).toBe(0.5);
  });
});
