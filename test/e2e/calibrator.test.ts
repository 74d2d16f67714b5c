/**
 * The streaming calibrator: its statistics against the file-based calibration's accumulation (as calibrate() did it
 * before it fed a calibrator), independence from the order and concurrency of observations, planted heads recovered
 * through the hook's calibration mode, output errors against the float64 reference, and its typed errors.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HEAD_CATEGORIES, HeadPolicy, Layout, MaskPlan, PromptAttention, type Segment } from '../../dist/index.js';
import {
  attentionMass,
  calibrate,
  calibrationStats,
  Calibrator,
  memorySample,
  retainedMass,
  rethreshold,
  writeSafetensors,
  type CalibrationStats,
} from '../../dist/calibration/index.js';
import { plantedQk, type Planted } from '../helpers/planted.js';
import { buildLibblindsight, compileC, repoRoot, run, which } from '../helpers/toolchain.js';
import { mulberry32, randomNormal, refAttention, refLayout, type Cat, type RefOptions } from '../oracle/reference.js';

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
      [{ kind: 'text', length: 5 }, { kind: 'image', length: 60 }, { kind: 'image', length: 60 }, { kind: 'text', length: 5 }],
    ],
    globalSinks: 2,
  },
];
const L = 3, H = 8, KV = 4, D = 16;
const planted = (l: number, h: number): Planted => PLANTS[(h + l) % 4]!;
const expectedCategories = () => Array.from({ length: L }, (_, l) => Array.from({ length: H }, (_, h) => planted(l, h)));

interface Prompt {
  layout: Layout;
  layers: { q: Float32Array; k: Float32Array; v: Float32Array }[];
}

function prompts(): Prompt[] {
  return LAYOUTS.map(({ segments, globalSinks }, s) => {
    const layout = Layout.fromSegments(segments, { globalSinks });
    const layers = Array.from({ length: L }, (_, l) => {
      const { q, k } = plantedQk(layout, Array.from({ length: H }, (_, h) => planted(l, h)), KV, D, 100 * s + l);
      return { q, k, v: randomNormal(mulberry32(7 * s + l), layout.numTokens * KV * D) };
    });
    return { layout, layers };
  });
}

/** The statistics as calibrate() accumulated them before it fed a calibrator (its loop, transcribed). */
async function fileBasedStats(ps: Prompt[], textKeys = true): Promise<Pick<CalibrationStats, 'mass' | 'worstSample' | 'keptRatio'>> {
  const pairs = { textKeys: [0, 0, 0, 0], noTextKeys: [0, 0, 0, 0] };
  const plans = ps.map((p) => {
    const plan = MaskPlan.build(p.layout, { textKeys });
    const other = MaskPlan.build(p.layout, { textKeys: !textKeys });
    for (const [pl, tk] of [[plan, textKeys], [other, !textKeys]] as const)
      pl.stats([...HEAD_CATEGORIES]).perCategory.forEach((c, i) => (pairs[tk ? 'textKeys' : 'noTextKeys'][i]! += c.visiblePairs));
    return plan;
  });
  const sums = new Float64Array(L * H * 7);
  const worst = { textKeys: new Float64Array(L * H * 4).fill(Infinity), noTextKeys: new Float64Array(L * H * 4).fill(Infinity) };
  let imageQueries = 0;
  for (let si = 0; si < ps.length; si++) {
    let sampleQueries = 0;
    for (let l = 0; l < L; l++) {
      const { q, k } = ps[si]!.layers[l]!;
      const r = await attentionMass({ q, k, plan: plans[si]!, numHeads: H, numKvHeads: KV, headDim: D, scale: 1 });
      sampleQueries = r.imageQueries;
      for (let i = 0; i < H * 7; i++) sums[l * H * 7 + i]! += r.sum[i]!;
      for (let h = 0; h < H; h++)
        HEAD_CATEGORIES.forEach((c, ci) => {
          const at = (l * H + h) * 4 + ci;
          worst.textKeys[at] = Math.min(worst.textKeys[at]!, retainedMass(r.mean, c, true, h * 7));
          worst.noTextKeys[at] = Math.min(worst.noTextKeys[at]!, retainedMass(r.mean, c, false, h * 7));
        });
    }
    imageQueries += sampleQueries;
  }
  const round = (x: number) => Math.round(x * 1e12) / 1e12;
  const grid = (a: Float64Array, w: number, f: (x: number) => number) =>
    Array.from({ length: L }, (_, l) => Array.from({ length: H }, (_, h) => Array.from(a.subarray((l * H + h) * w, (l * H + h + 1) * w), f)));
  const per = (p: number[]) => Object.fromEntries(HEAD_CATEGORIES.map((c, i) => [c, p[i]! / p[0]!])) as CalibrationStats['keptRatio']['textKeys'];
  return {
    mass: grid(sums, 7, (x) => round(x / imageQueries)),
    worstSample: { textKeys: grid(worst.textKeys, 4, round), noTextKeys: grid(worst.noTextKeys, 4, round) },
    keptRatio: { textKeys: per(pairs.textKeys), noTextKeys: per(pairs.noTextKeys) },
  };
}

const newCalibrator = (extra: Partial<ConstructorParameters<typeof Calibrator>[0]> = {}) =>
  new Calibrator({ numLayers: L, numHeads: H, numKvHeads: KV, headDim: D, scale: 1, ...extra });

function expectClose(a: number[][][], b: number[][][], tol: number) {
  a.forEach((row, l) => row.forEach((x, h) => x.forEach((v, i) => expect(Math.abs(v - b[l]![h]![i]!), `[${l}][${h}][${i}]`).toBeLessThanOrEqual(tol))));
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('the streaming calibrator', () => {
  it('gives the statistics of the file-based accumulation, and calibrate() from files gives the hook\'s policy', async () => {
    const ps = prompts();
    const cal = newCalibrator();
    for (const p of ps) {
      const plan = MaskPlan.build(p.layout);
      for (let l = 0; l < L; l++) await cal.observe({ layer: l, plan, q: p.layers[l]!.q, k: p.layers[l]!.k });
    }
    const stats = cal.stats();
    const old = await fileBasedStats(ps);
    expect(stats.keptRatio).toEqual(old.keptRatio);
    expectClose(stats.mass, old.mass, 1e-12);
    expect(stats.worstSample).toEqual(old.worstSample);
    const policy = cal.policy();
    expect(policy.toJSON().categories).toEqual(expectedCategories());

    // The same tensors from safetensors files through calibrate(), and observed in a running model through the hook.
    const dir = mkdtempSync(path.join(tmpdir(), 'blindsight-calibrator-'));
    dirs.push(dir);
    const files = await Promise.all(ps.map(async (p, s) => {
      const file = path.join(dir, `s${s}.safetensors`);
      const tensors: Parameters<typeof writeSafetensors>[1] = {};
      p.layers.forEach((t, l) => {
        tensors[`layers.${l}.q`] = { dtype: 'F32', shape: [p.layout.numTokens, H, D], data: t.q };
        tensors[`layers.${l}.k`] = { dtype: 'F32', shape: [p.layout.numTokens, KV, D], data: t.k };
      });
      await writeSafetensors(file, tensors, {
        'blindsight.segments': JSON.stringify(LAYOUTS[s]!.segments), 'blindsight.global_sinks': String(LAYOUTS[s]!.globalSinks), 'blindsight.scale': '1',
      });
      return file;
    }));
    const fromFiles = calibrationStats(await calibrate(files));
    const hooked = newCalibrator();
    for (const p of ps) {
      const hook = PromptAttention.create(p.layout, hooked, { numHeads: H, numKvHeads: KV, headDim: D, scale: 1 });
      for (let l = 0; l < L; l++) {
        const r = await hook.layer(l).forward(p.layers[l]!.q, p.layers[l]!.k, p.layers[l]!.v);
        expect(r.out.every(Number.isFinite)).toBe(true);
      }
      expect(hook.summary().keptRatio).toBe(1);
      hook.dispose();
    }
    const fromHook = hooked.stats();
    for (const s of [fromFiles, fromHook]) {
      expect(s.mass).toEqual(stats.mass);
      expect(s.worstSample).toEqual(stats.worstSample);
      expect(s.keptRatio).toEqual(stats.keptRatio);
    }
    expect(fromFiles.samples.map((s) => s.name)).toEqual(files);
    expect(fromHook.samples.map(({ name, ...rest }) => rest)).toEqual(fromFiles.samples.map(({ name, ...rest }) => rest));
    expect(hooked.policy().toJSON().categories).toEqual(expectedCategories());
  });

  it('any observation order, and concurrent observations, give the same policy and statistics', async () => {
    const ps = prompts();
    const work = ps.flatMap((p, s) => Array.from({ length: L }, (_, l) => ({ s, l })));
    const run = async (order: { s: number; l: number }[], concurrent: boolean) => {
      const cal = newCalibrator();
      const plans = ps.map((p) => MaskPlan.build(p.layout));
      const obs = order.map(({ s, l }) => () => cal.observe({ layer: l, plan: plans[s]!, q: ps[s]!.layers[l]!.q, k: ps[s]!.layers[l]!.k, sample: `p${s}` }));
      if (concurrent) await Promise.all(obs.map((f) => f()));
      else for (const f of obs) await f();
      const stats = cal.stats();
      return { stats, categories: cal.policy().toJSON().categories };
    };
    const base = await run(work, false);
    const rng = mulberry32(3);
    const shuffled = [...work].sort(() => rng() - 0.5);
    expect(shuffled).not.toEqual(work);
    for (const r of [await run([...work].reverse(), false), await run(shuffled, false), await run(shuffled, true)]) {
      expect(r.categories).toEqual(base.categories);
      expect(r.stats.mass).toEqual(base.stats.mass);
      expect(r.stats.worstSample).toEqual(base.stats.worstSample);
      expect(r.stats.keptRatio).toEqual(base.stats.keptRatio);
      expect([...r.stats.samples].sort((a, b) => a.name.localeCompare(b.name))).toEqual(base.stats.samples);
    }
    expect(base.categories).toEqual(expectedCategories());
  });

  it('strided q and k (a head-major K cache, padded q rows) give the statistics of packed ones', async () => {
    const ps = prompts();
    const stats = async (strided: boolean) => {
      const cal = newCalibrator();
      for (const [s, p] of ps.entries()) {
        const plan = MaskPlan.build(p.layout);
        for (let l = 0; l < L; l++) {
          const { q, k } = p.layers[l]!;
          if (!strided) {
            await cal.observe({ layer: l, plan, q, k, sample: `p${s}` });
            continue;
          }
          const n = p.layout.numTokens, H = cal.numHeads, KV = cal.numKvHeads, D = cal.headDim;
          const qs = new Float32Array(n * (H * D + 8)), ks = new Float32Array(KV * n * D);
          for (let t = 0; t < n; t++) {
            for (let h = 0; h < H; h++) qs.set(q.subarray((t * H + h) * D, (t * H + h + 1) * D), t * (H * D + 8) + h * D);
            for (let h = 0; h < KV; h++) ks.set(k.subarray((t * KV + h) * D, (t * KV + h + 1) * D), (h * n + t) * D);
          }
          await cal.observe({ layer: l, plan, q: qs, k: ks, sample: `p${s}`, strides: { q: { token: H * D + 8, head: D }, k: { token: D, head: n * D } } });
        }
      }
      return cal.stats();
    };
    const [packed, strided] = [await stats(false), await stats(true)];
    expect(strided.mass).toEqual(packed.mass);
    expect(strided.worstSample).toEqual(packed.worstSample);
    const cal = newCalibrator();
    const p = ps[0]!;
    await expect(cal.observe({ layer: 0, plan: MaskPlan.build(p.layout), q: p.layers[0]!.q, k: p.layers[0]!.k, strides: { k: { token: -1, head: 8 } } })).rejects.toMatchObject({ code: 'BAD_STRIDE' });
  });

  it('calibration mode in the hook recovers every planted category, synchronously too, and policies re-threshold', () => {
    const cal = newCalibrator({ model: 'planted' });
    for (const p of prompts()) {
      using hook = PromptAttention.create(p.layout, cal, { numHeads: H, numKvHeads: KV, headDim: D, scale: 1 });
      expect(hook.layer(0).heads.every((c) => c === 'dense')).toBe(true);
      for (let l = L - 1; l >= 0; l--) hook.layer(l).forwardSync(p.layers[l]!.q, p.layers[l]!.k, p.layers[l]!.v);
      expect(hook.summary().callsPerLayer).toEqual([1, 1, 1]);
    }
    const policy = cal.policy({ pinLayers: [1] });
    expect(policy.model).toBe('planted');
    const want = expectedCategories();
    want[1] = Array<Cat>(H).fill('dense');
    expect(policy.toJSON().categories).toEqual(want);
    expect(rethreshold(HeadPolicy.parse(JSON.stringify(policy.toJSON())), { pinLayers: [] }).toJSON().categories).toEqual(expectedCategories());
  });

  it('measures each category\'s output error against the float64 reference', async () => {
    const rng = mulberry32(11);
    const segs: Segment[][] = [[{ kind: 'text', length: 7 }, { kind: 'image', length: 40 }, { kind: 'text', length: 3 }, { kind: 'image', length: 33 }, { kind: 'text', length: 5 }]];
    const layout = Layout.fromSegments(segs);
    const n = layout.numTokens, heads = 4, kv = 2, dim = 16;
    const options: RefOptions = { textKeys: false, bidirectionalImages: false, window: 29 };
    const cal = new Calibrator({ numLayers: 2, numHeads: heads, numKvHeads: kv, headDim: dim, outputError: true, ...options });
    const plan = MaskPlan.build(layout, options);
    const expected = Array.from({ length: 2 }, () => Array.from({ length: heads }, () => ({ err: [0, 0, 0, 0], norm: 0 })));
    for (let rep = 0; rep < 2; rep++) {
      const q = randomNormal(rng, n * heads * dim, 1.5), k = randomNormal(rng, n * kv * dim, 1.5), v = randomNormal(rng, n * kv * dim);
      const layer = rep;
      if (rep === 0) await cal.observe({ layer, plan, q, k, v });
      else {
        using hook = PromptAttention.create(plan, cal, { numHeads: heads, numKvHeads: kv, headDim: dim });
        await hook.layer(layer).forward(q, k, v);
      }
      const outs = HEAD_CATEGORIES.map((c) =>
        refAttention({ q, k, v, layout: refLayout(segs), heads: Array<Cat>(heads).fill(c), numHeads: heads, numKvHeads: kv, headDim: dim, options }).out);
      for (let t = 0; t < n; t++) {
        if (layout.imageIds[t]! < 0) continue;
        for (let h = 0; h < heads; h++)
          for (let d = 0; d < dim; d++) {
            const at = (t * heads + h) * dim + d;
            expected[layer]![h]!.norm += outs[0]![at]! ** 2;
            HEAD_CATEGORIES.forEach((_, ci) => (expected[layer]![h]!.err[ci]! += (outs[ci]![at]! - outs[0]![at]!) ** 2));
          }
      }
    }
    const e = cal.outputErrors();
    expect(e.observations).toEqual([1, 1]);
    expect(e.textKeys).toBe(false);
    for (let l = 0; l < 2; l++)
      for (let h = 0; h < heads; h++) {
        expect(e.rows[l]![h]).toBe(73);
        expect(Math.abs(e.squaredNorm[l]![h]! / expected[l]![h]!.norm - 1)).toBeLessThan(1e-5);
        expect(e.squaredError[l]![h]![0]).toBe(0);
        for (let c = 1; c < 4; c++) {
          const rel = Math.sqrt(e.squaredError[l]![h]![c]! / e.squaredNorm[l]![h]!);
          const ref = Math.sqrt(expected[l]![h]!.err[c]! / expected[l]![h]!.norm);
          expect(ref).toBeGreaterThan(1e-3);
          expect(Math.abs(rel - ref)).toBeLessThan(1e-5 * Math.max(1, ref));
        }
      }
    // A calibration that measured output errors stores them in its policy.
    expect(cal.policy({ textKeys: false }).meta.calibration).toMatchObject({ outputError: e });
  });

  it('rejects what it cannot measure with typed errors, before any native work', async () => {
    const p = prompts()[0]!;
    const plan = MaskPlan.build(p.layout);
    const cal = newCalibrator();
    const { q, k, v } = p.layers[0]!;
    expect(() => cal.policy()).toThrow(expect.objectContaining({ code: 'NOT_OBSERVED' }));
    await expect(cal.observe({ layer: 3, plan, q, k })).rejects.toThrow(RangeError);
    await expect(cal.observe({ layer: -1, plan, q, k })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    // Tensors of another head shape than the calibrator's model (and than the observations before them).
    await cal.observe({ layer: 0, plan, q, k });
    await expect(cal.observe({ layer: 1, plan, q: q.subarray(0, q.length / 2), k })).rejects.toMatchObject({ code: 'SHAPE_MISMATCH' });
    // A plan of another layout, or of another base mask than the calibrator's.
    const other = MaskPlan.build(prompts()[1]!.layout);
    await expect(cal.observe({ layer: 1, plan: other, q, k })).rejects.toMatchObject({ code: 'SHAPE_MISMATCH' });
    await expect(cal.observe({ layer: 1, plan: MaskPlan.build(p.layout, { window: 50 }), q, k })).rejects.toMatchObject({ code: 'BAD_OPTION' });
    expect(() => PromptAttention.create(p.layout, cal, { numHeads: H, numKvHeads: KV, headDim: D, bidirectionalImages: true })).toThrow(
      expect.objectContaining({ code: 'BAD_OPTION' }),
    );
    expect(() => PromptAttention.create(p.layout, cal, { numHeads: 4, numKvHeads: KV, headDim: D })).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    await expect(cal.observe({ layer: 1, plan, q, k, v })).rejects.toMatchObject({ code: 'BAD_OPTION' });
    await expect(cal.observe({ layer: 1, plan, q, k, dtype: 'bf16' })).rejects.toThrow(TypeError);
    // Layers 1 and 2 are still unobserved.
    expect(() => cal.policy()).toThrow(expect.objectContaining({ code: 'NOT_OBSERVED', message: expect.stringContaining('layer 1') }));
    const textOnly = Layout.fromSegments([{ kind: 'text', length: 30 }]);
    const t = newCalibrator({ numLayers: 1 });
    t.observeSync({ layer: 0, plan: MaskPlan.build(textOnly), q: new Float32Array(30 * H * D), k: new Float32Array(30 * KV * D) });
    expect(() => t.policy()).toThrow(expect.objectContaining({ code: 'NO_IMAGE_QUERIES' }));
    expect(() => newCalibrator({ headDim: 12, outputError: true })).toThrow(expect.objectContaining({ code: 'BAD_HEAD_DIM' }));
    expect(() => newCalibrator({ mass: false })).toThrow(expect.objectContaining({ code: 'BAD_OPTION' }));
    expect(() => newCalibrator({ numKvHeads: 3 })).toThrow(expect.objectContaining({ code: 'BAD_GQA' }));
    expect(() => cal.outputErrors()).toThrow(expect.objectContaining({ code: 'BAD_OPTION' }));
    cal.dispose();
    await expect(cal.observe({ layer: 1, plan, q, k })).rejects.toMatchObject({ code: 'DISPOSED' });
    expect(() => cal.policy()).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
  });

  it('memory samples with values: calibrate measures output errors when asked', async () => {
    const ps = prompts();
    const samples = ps.map((p, s) => memorySample({ name: `m${s}`, layout: p.layout, layers: p.layers, numHeads: H, numKvHeads: KV, headDim: D, scale: 1 }));
    const policy = await calibrate(samples, { outputError: true });
    const stats = calibrationStats(policy);
    expect(policy.toJSON().categories).toEqual(expectedCategories());
    expect(stats.outputError!.observations).toEqual([2, 2, 2]);
    // A planted head keeps its output under its own category: small errors there, large ones under categories that drop its mass.
    for (let l = 0; l < L; l++)
      for (let h = 0; h < H; h++) {
        const e = stats.outputError!.squaredError[l]![h]!, n = stats.outputError!.squaredNorm[l]![h]!;
        const c = HEAD_CATEGORIES.indexOf(planted(l, h));
        expect(Math.sqrt(e[c]! / n)).toBeLessThan(0.3);
      }
    await expect(calibrate([memorySample({ layout: ps[0]!.layout, layers: ps[0]!.layers.map(({ q, k }) => ({ q, k })), numHeads: H, numKvHeads: KV, headDim: D })], { outputError: true }))
      .rejects.toMatchObject({ code: 'MISSING_TENSOR' });
  });
});

const missing = ['cmake', 'cc'].filter((t) => !which(t));
if (missing.length > 0) console.warn(`SKIPPING the C ABI calibrator tests: ${missing.join(' and ')} not found on PATH`);
const python = which('python3');
const statsOf = (json: unknown) => {
  const c = (json as { meta: { calibration: CalibrationStats } }).meta.calibration;
  return { mass: c.mass, worstSample: c.worstSample, keptRatio: c.keptRatio, samples: c.samples.map(({ name: _, ...rest }) => rest) };
};

describe.skipIf(missing.length > 0)('the calibrator through the C ABI', () => {
  it('reports every bad call with a status and a coded text; observations one by one, through the hook and from four threads agree', () => {
    buildLibblindsight();
    const lines = run(compileC('test/e2e/capi/calibrator_check.c', 'calibrator_check'), []).trim().split('\n');
    expect(lines[0]).toMatch(/^ok \d+ checks$/);
    const [sequential, hook, threaded] = lines.slice(1).map((l) => JSON.parse(l));
    for (const p of [sequential, hook, threaded]) expect(HeadPolicy.fromJSON(p).model).toBe('toy');
    expect(statsOf(hook)).toEqual(statsOf(sequential));
    const t = statsOf(threaded), q = statsOf(sequential);
    expect(t.mass).toEqual(q.mass);
    expect(t.worstSample).toEqual(q.worstSample);
    expect(t.keptRatio).toEqual(q.keptRatio);
    expect(new Set(threaded.meta.calibration.samples.map((x: { name: string }) => x.name))).toEqual(new Set(['p0', 'p1']));
    expect(hook.categories).toEqual(sequential.categories);
    expect(threaded.categories).toEqual(sequential.categories);
  }, 600_000);

  it.skipIf(!python)('the Python calibration example recovers its planted heads, and its policy file is the one calibrate() writes for its tensors', async () => {
    buildLibblindsight();
    const dir = mkdtempSync(path.join(tmpdir(), 'blindsight-python-calibration-'));
    dirs.push(dir);
    const report = JSON.parse(run(python!, [path.join(repoRoot, 'examples/python/calibrate_ctypes.py'), '--dump', dir]).trim().split('\n').pop()!);
    const want = expectedCategories();
    expect(report.categories).toEqual(want);
    expect(report.planted).toEqual(want);
    const fromC = HeadPolicy.fromJSON(report.policy);
    expect(fromC.model).toBe('planted');
    expect(rethreshold(fromC, { tau: 0, worstTau: 0 }).counts().sink).toBe(L * H);
    // The same tensors, dumped as samples, through the TypeScript file-based calibration: the same policy and numbers.
    const files = [0, 1].map((p) => path.join(dir, `prompt${p}.safetensors`));
    const fromFiles = await calibrate(files, { model: 'planted' });
    const json = fromFiles.toJSON();
    expect(json.categories).toEqual(report.policy.categories);
    expect(statsOf(report.policy)).toEqual(statsOf(json));
    const { samples: _a, ...c } = report.policy.meta.calibration;
    const { samples: _b, ...ts } = json.meta!.calibration as CalibrationStats;
    expect(c).toEqual(ts);
  }, 600_000);
});
