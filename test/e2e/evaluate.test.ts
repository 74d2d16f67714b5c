/**
 * A policy's output error: evaluate() against the float64 reference on small samples with values, and
 * `blindsight evaluate` (with calibrate --output-error and inspect --color-by error) as a user runs it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { HEAD_CATEGORIES, HeadPolicy, Layout, MaskPlan, type HeadCategory, type Segment } from '../../dist/index.js';
import { evaluate, evaluationTable, memorySample, writeSafetensors, type TensorToWrite } from '../../dist/calibration/index.js';
import { plantedQk, type Planted } from '../helpers/planted.js';
import { mulberry32, randomNormal, refAttention, refLayout, type RefOptions } from '../oracle/reference.js';

const exec = promisify(execFile);
const cli = path.resolve(__dirname, '../../dist/cli/blindsight.js');
const dir = mkdtempSync(path.join(tmpdir(), 'bs-evaluate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function blindsight(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [cli, ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('evaluate', () => {
  it('matches the float64 reference: every head under every category, and each layer under the policy', async () => {
    const rng = mulberry32(21);
    const options: RefOptions = { textKeys: true, bidirectionalImages: true, window: null };
    const H = 4, KV = 2, D = 16, L = 2;
    const segs: Segment[][][] = [
      [[{ kind: 'text', length: 6 }, { kind: 'image', length: 30 }, { kind: 'text', length: 2 }, { kind: 'image', length: 41 }, { kind: 'text', length: 3 }]],
      [[{ kind: 'image', length: 25 }, { kind: 'text', length: 4 }, { kind: 'image', length: 20 }], [{ kind: 'text', length: 3 }, { kind: 'image', length: 12 }]],
    ];
    const policy = new HeadPolicy([['dense', 'sink', 'intra-image', 'intra-image+sink'], ['sink', 'sink', 'intra-image', 'dense']]);
    const err = Array.from({ length: L }, () => Array.from({ length: H }, () => [0, 0, 0, 0]));
    const norm = Array.from({ length: L }, () => new Array<number>(H).fill(0));
    let kept = [0, 0], dense = [0, 0];
    const samples = segs.map((s, i) => {
      const layout = Layout.fromSegments(s);
      const n = layout.numTokens;
      const layers = Array.from({ length: L }, (_, l) => {
        const q = randomNormal(rng, n * H * D, 1.5), k = randomNormal(rng, n * KV * D, 1.5), v = randomNormal(rng, n * KV * D);
        const outs = HEAD_CATEGORIES.map((c) => refAttention({ q, k, v, layout: refLayout(s), heads: Array<HeadCategory>(H).fill(c), numHeads: H, numKvHeads: KV, headDim: D, options }).out);
        for (let t = 0; t < n; t++) {
          if (layout.imageIds[t]! < 0) continue;
          for (let h = 0; h < H; h++)
            for (let d = 0; d < D; d++) {
              const at = (t * H + h) * D + d;
              norm[l]![h]! += outs[0]![at]! ** 2;
              for (let c = 0; c < 4; c++) err[l]![h]![c]! += (outs[c]![at]! - outs[0]![at]!) ** 2;
            }
        }
        const st = MaskPlan.build(layout, options).stats(policy.layer(l));
        kept[l]! += st.visiblePairs;
        dense[l]! += st.denseCausalPairs;
        return { q, k, v };
      });
      return memorySample({ name: `s${i}`, layout, layers, numHeads: H, numKvHeads: KV, headDim: D });
    });
    const e = await evaluate(policy, samples, { bidirectionalImages: true });
    expect(e.samples.map((s) => s.name)).toEqual(['s0', 's1']);
    expect(e.bidirectionalImages).toBe(true);
    for (let l = 0; l < L; l++) {
      const layer = e.layers[l]!;
      expect(layer.keptRatio).toBeCloseTo(kept[l]! / dense[l]!, 12);
      let pe = 0, pn = 0;
      for (let h = 0; h < H; h++) {
        HEAD_CATEGORIES.forEach((c, ci) => {
          const ref = Math.sqrt(err[l]![h]![ci]! / norm[l]![h]!);
          expect(Math.abs(layer.heads[h]!.perCategory[c]! - ref), `layer ${l} head ${h} ${c}`).toBeLessThan(1e-5 * Math.max(1, ref));
        });
        pe += err[l]![h]![HEAD_CATEGORIES.indexOf(policy.get(l, h))]!;
        pn += norm[l]![h]!;
      }
      expect(Math.abs(layer.relativeError! - Math.sqrt(pe / pn))).toBeLessThan(1e-5);
      expect(layer.relativeError).toBeGreaterThan(1e-3);
    }
    expect(evaluationTable(e)).toMatch(/^relative L2 error/);
    await expect(evaluate(HeadPolicy.uniform(3, H, 'dense'), samples)).rejects.toMatchObject({ code: 'SHAPE_MISMATCH' });
    const n0 = samples[0]!.layout.numTokens;
    const noValues = memorySample({ layout: samples[0]!.layout, layers: [0, 1].map(() => ({ q: new Float32Array(n0 * H * D), k: new Float32Array(n0 * KV * D) })), numHeads: H, numKvHeads: KV, headDim: D });
    await expect(evaluate(policy, [noValues])).rejects.toMatchObject({ code: 'MISSING_TENSOR' });
  });

  it('blindsight calibrate --output-error, evaluate and inspect --color-by error', async () => {
    const heads: Planted[] = ['intra-image', 'sink', 'intra-image+sink', 'dense'];
    const files = await Promise.all([0, 1].map(async (s) => {
      const segments = [{ kind: 'text', length: 5 + s }, { kind: 'image', length: 40 }, { kind: 'text', length: 3 }, { kind: 'image', length: 50 + 5 * s }, { kind: 'text', length: 6 }];
      const layout = Layout.fromSegments(segments as never);
      const tensors: Record<string, TensorToWrite> = {};
      for (let l = 0; l < 2; l++) {
        const { q, k } = plantedQk(layout, heads, 2, 8, 10 * s + l);
        const shape = (h: number) => [layout.numTokens, h, 8];
        tensors[`layers.${l}.q`] = { dtype: 'F32', shape: shape(4), data: q };
        tensors[`layers.${l}.k`] = { dtype: 'F32', shape: shape(2), data: k };
        tensors[`layers.${l}.v`] = { dtype: 'F32', shape: shape(2), data: randomNormal(mulberry32(s * 10 + l), layout.numTokens * 16) };
      }
      const file = path.join(dir, `planted${s}.safetensors`);
      await writeSafetensors(file, tensors, { 'blindsight.segments': JSON.stringify(segments), 'blindsight.scale': '1' });
      return file;
    }));
    const policyFile = path.join(dir, 'policy.json');
    const cal = await blindsight('calibrate', ...files, '--out', policyFile, '--output-error');
    expect(cal.code, cal.stderr).toBe(0);
    const policy = await HeadPolicy.load(policyFile);
    expect(policy.layer(0)).toEqual(heads);
    expect((policy.meta.calibration as { outputError?: { observations: number[] } }).outputError?.observations).toEqual([2, 2]);

    const report = path.join(dir, 'report.json'), svg = path.join(dir, 'errors.svg');
    const ev = await blindsight('evaluate', policyFile, ...files, '--out', report, '--svg', svg);
    expect(ev.code, ev.stderr).toBe(0);
    expect(ev.stdout).toMatch(/layer\s+dense\s+sink\s+intra\s+intra\+s\s+kept\s+error/);
    expect(ev.stdout.trim().split('\n').at(-1)).toBe(report);
    const json = JSON.parse(readFileSync(report, 'utf8'));
    expect(json.layers).toHaveLength(2);
    expect(json.layers[0].heads.map((h: { category: string }) => h.category)).toEqual(heads);
    // The planted heads keep their outputs: small errors under their own categories.
    for (const layer of json.layers) expect(layer.relativeError).toBeLessThan(0.1);
    expect(readFileSync(svg, 'utf8')).toContain('output error (relative L2)');
    // The errors calibrate stored are the ones evaluate measures.
    const stored = (policy.meta.calibration as { outputError: { squaredError: number[][][]; squaredNorm: number[][] } }).outputError;
    expect(json.outputError.squaredNorm).toEqual(stored.squaredNorm);
    expect(json.outputError.squaredError).toEqual(stored.squaredError);
    const pic = await blindsight('inspect', '--policy', policyFile, '--out', path.join(dir, 'colored.svg'), '--color-by', 'error');
    expect(pic.code, pic.stderr).toBe(0);

    const uncalibrated = path.join(dir, 'dense.json');
    await HeadPolicy.uniform(2, 4, 'dense').save(uncalibrated);
    expect(await blindsight('inspect', '--policy', uncalibrated, '--color-by', 'error')).toMatchObject({ code: 1, stderr: expect.stringContaining('BAD_POLICY') });
    expect(await blindsight('inspect', '--policy', uncalibrated, '--color-by', 'mass')).toMatchObject({ code: 2 });
    expect(await blindsight('evaluate', policyFile)).toMatchObject({ code: 2 });
    const wrong = path.join(dir, 'wrong.json');
    await HeadPolicy.uniform(3, 4, 'dense').save(wrong);
    expect(await blindsight('evaluate', wrong, ...files)).toMatchObject({ code: 1, stderr: expect.stringContaining('SHAPE_MISMATCH') });
  });
});
