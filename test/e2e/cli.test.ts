import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { HeadPolicy, Layout } from '../../dist/index.js';
import { writeSafetensors, type TensorToWrite } from '../../dist/calibration/index.js';
import { ProgressBar } from '../../dist/report/progress.js';
import { plantedQk, type Planted } from '../helpers/planted.js';

const run = promisify(execFile);
const cli = path.resolve(__dirname, '../../dist/cli/blindsight.js');
const dir = mkdtempSync(path.join(tmpdir(), 'bs-cli-'));

async function blindsight(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const heads: Planted[] = ['intra-image', 'sink', 'intra-image+sink', 'dense'];
const segmentsOf = (n: number) => [
  { kind: 'text', length: 5 + n }, { kind: 'image', length: 40 }, { kind: 'text', length: 3 }, { kind: 'image', length: 50 + 5 * n },
  { kind: 'text', length: 2 }, { kind: 'image', length: 45 }, { kind: 'text', length: 6 },
] as const;

async function writeSample(n: number): Promise<string> {
  const segments = segmentsOf(n);
  const layout = Layout.fromSegments(segments as never);
  const tensors: Record<string, TensorToWrite> = {};
  for (let l = 0; l < 3; l++) {
    const { q, k } = plantedQk(layout, heads, 2, 8, 10 * n + l);
    tensors[`layers.${l}.q`] = { dtype: 'F32', shape: [layout.numTokens, 4, 8], data: q };
    tensors[`layers.${l}.k`] = { dtype: 'F32', shape: [layout.numTokens, 2, 8], data: k };
  }
  const p = path.join(dir, `sample${n}.safetensors`);
  await writeSafetensors(p, tensors, { 'blindsight.segments': JSON.stringify(segments), 'blindsight.scale': '1', 'blindsight.model': 'toy' });
  return p;
}

describe('blindsight CLI', () => {
  it('calibrate -> rethreshold -> inspect -> flops', async () => {
    const samples = [await writeSample(0), await writeSample(1)];
    const out = path.join(dir, 'policy.json');
    const svg = path.join(dir, 'policy-from-calibrate.svg');
    const cal = await blindsight('calibrate', ...samples, '--out', out, '--pin-last', '1', '--svg', svg);
    expect(cal.stderr).toBe(''); // no progress bar when stderr is not a terminal
    expect(cal.code).toBe(0);
    expect(cal.stdout).toMatch(/3 layers x 4 heads from 2 sample\(s\)/);
    const policy = await HeadPolicy.load(out);
    expect(policy.model).toBe('toy');
    expect(policy.layer(0)).toEqual(heads);
    expect(policy.layer(1)).toEqual(heads);
    expect(policy.layer(2)).toEqual(['dense', 'dense', 'dense', 'dense']);
    expect(readFileSync(svg, 'utf8')).toContain('<svg');

    const re = path.join(dir, 'policy-lax.json');
    const r = await blindsight('rethreshold', out, '--out', re, '--tau', '0', '--worst-tau', '0', '--pin-last', '0');
    expect(r.code).toBe(0);
    expect((await HeadPolicy.load(re)).counts()).toEqual({ dense: 0, sink: 12, 'intra-image': 0, 'intra-image+sink': 0 });

    const layoutFile = path.join(dir, 'prompt.json');
    writeFileSync(layoutFile, JSON.stringify({ segments: segmentsOf(2), globalSinks: 1 }));
    const ins = await blindsight('inspect', '--policy', out, '--layout', layoutFile, '--categories', 'sink,intra-image');
    expect(ins.code).toBe(0);
    expect(readFileSync(path.join(dir, 'policy.svg'), 'utf8')).toContain('layer 2, head 3: dense');
    const plan = readFileSync(path.join(dir, 'prompt.plan.svg'), 'utf8');
    expect(plan).toContain('font-weight="bold">sink</text>');
    expect(plan).not.toContain('font-weight="bold">dense</text>');
    const fromSample = await blindsight('inspect', '--layout', samples[0]!, '--plan-out', path.join(dir, 'from-sample.svg'));
    expect(fromSample.code).toBe(0);

    const f = await blindsight('flops', '--policy', out, '--layout', layoutFile);
    expect(f.code).toBe(0);
    expect(f.stdout).toMatch(/attention pairs kept: \d+\.\d\d %/);
    const wrongModel = await blindsight('flops', '--policy', out, '--layout', layoutFile, '--model', 'qwen2-vl-7b');
    expect(wrongModel.code).toBe(1);
    expect(wrongModel.stderr).toMatch(/SHAPE_MISMATCH/);
  });

  it('usage mistakes exit 2, bad input exits 1 with a coded message', async () => {
    expect((await blindsight()).code).toBe(2);
    expect((await blindsight('help')).stdout).toMatch(/usage: blindsight/);
    expect((await blindsight('calibrate', 'x.safetensors')).code).toBe(2); // no --out
    expect((await blindsight('frobnicate')).code).toBe(2);
    expect((await blindsight('calibrate', 'x', '--out', 'y', '--tau', 'high')).code).toBe(2);
    expect((await blindsight('calibrate', 'x', '--out', 'y', '--bogus')).code).toBe(2);
    const garbage = path.join(dir, 'garbage.safetensors');
    writeFileSync(garbage, 'not a safetensors file at all');
    const bad = await blindsight('calibrate', garbage, '--out', path.join(dir, 'never.json'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^blindsight: BAD_SAFETENSORS: /);
    const missing = await blindsight('calibrate', path.join(dir, 'nope.safetensors'), '--out', path.join(dir, 'never.json'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/ENOENT/);
    expect(missing.stderr).not.toMatch(/ENOENT: ENOENT/);
  });

  it('bad layout files and option values get clear messages and consistent exit codes', async () => {
    const nul = path.join(dir, 'null.json');
    writeFileSync(nul, 'null');
    const broken = path.join(dir, 'broken.json');
    writeFileSync(broken, '{"segments": [');
    const zeroLength = path.join(dir, 'zero.json');
    writeFileSync(zeroLength, JSON.stringify([{ kind: 'text', length: 0 }]));
    for (const file of [nul, broken, zeroLength]) {
      const r = await blindsight('inspect', '--layout', file, '--plan-out', path.join(dir, 'never.svg'));
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/^blindsight: BAD_SEGMENTS: /);
      expect(r.stderr).toContain(file); // the message names the file
    }
    const good = path.join(dir, 'good.json');
    writeFileSync(good, JSON.stringify([{ kind: 'text', length: 10 }, { kind: 'image', length: 30 }]));
    // A value of the wrong form and a value out of range are both usage mistakes.
    for (const value of ['0', 'abc', '12', '1024']) {
      const r = await blindsight('inspect', '--layout', good, '--block-m', value, '--plan-out', path.join(dir, 'never.svg'));
      expect(r.code, `--block-m ${value}: ${r.stderr}`).toBe(2);
    }
    const ok = await blindsight('inspect', '--layout', good, '--block-m', '16', '--plan-out', path.join(dir, 'fine.svg'));
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('the progress bar draws only on a terminal', () => {
    const writes: string[] = [];
    const fake = (isTTY: boolean) => ({ isTTY, columns: 80, write: (s: string) => writes.push(s) }) as unknown as NodeJS.WriteStream;
    const off = new ProgressBar({ stream: fake(false) });
    off.update(0.5, 'half');
    off.done();
    expect(writes).toEqual([]);
    const on = new ProgressBar({ stream: fake(true) });
    on.update(1, 'sample 1/1 layer 3/3');
    on.done();
    expect(writes[0]).toMatch(/^\r\[#{28}\] 100\.0 %  sample 1\/1 layer 3\/3/);
    expect(writes[0]!.length).toBe(80); // \r + 79 columns
    expect(writes.at(-1)).toBe('\n');
    const quiet = new ProgressBar({ stream: fake(true), quiet: true });
    quiet.update(0.3, 'x');
    expect(writes).toHaveLength(2);
  });

  it('the progress bar also counts units (the benchmark sweep)', () => {
    const writes: string[] = [];
    const fake = { isTTY: true, columns: 80, write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream;
    const bar = new ProgressBar({ stream: fake, total: 4 });
    bar.tick('first');
    expect(writes[0]).toMatch(/^\r\[#{7}-{21}\]  25\.0 %  first/);
    bar.tick('rate-limited'); // within 100 ms of the last redraw
    expect(writes).toHaveLength(1);
    bar.note('warm-up'); // a note always shows
    expect(writes[1]).toMatch(/^\r\[#{14}-{14}\]  50\.0 %  warm-up/);
    bar.tick('last', 5); // clamped to the total; the final redraw is never skipped
    expect(writes[2]).toMatch(/^\r\[#{28}\] 100\.0 %  last/);
    bar.done();
    expect(writes.at(-1)).toBe('\n');
    expect(() => new ProgressBar({ stream: fake }).tick('x')).toThrow(TypeError);
    const empty = new ProgressBar({ stream: fake, total: 0 });
    empty.note('nothing to do');
    empty.done();
    expect(writes).toHaveLength(4);
  });
});
