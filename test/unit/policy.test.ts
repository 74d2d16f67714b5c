import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HeadPolicy } from '../../dist/index.js';

describe('HeadPolicy', () => {
  const cats = [
    ['dense', 'sink', 'intra-image'],
    ['intra-image+sink', 'dense', 'dense'],
  ] as const;

  it('round-trips through JSON files, keeping meta', async () => {
    const p = new HeadPolicy(cats as never, { model: 'toy', meta: { threshold: 0.95 } });
    const dir = mkdtempSync(path.join(tmpdir(), 'bs-policy-'));
    const file = path.join(dir, 'p.json');
    await p.save(file);
    const back = await HeadPolicy.load(file);
    expect(back.toJSON()).toEqual(p.toJSON());
    expect(back.layer(1)).toEqual(['intra-image+sink', 'dense', 'dense']);
    expect(back.get(0, 2)).toBe('intra-image');
    expect(back.counts()).toEqual({ dense: 3, sink: 1, 'intra-image': 1, 'intra-image+sink': 1 });
    expect(back.meta).toEqual({ threshold: 0.95 });
  });

  it('uniform policies', () => {
    const p = HeadPolicy.uniform(28, 28, 'dense', 'qwen2-vl-7b');
    expect(p.numLayers).toBe(28);
    expect(p.counts().dense).toBe(784);
  });

  it('rejects malformed policies with BAD_POLICY / UNKNOWN_CATEGORY', async () => {
    const bad: [unknown, string][] = [
      [null, 'BAD_POLICY'],
      [{ format: 'other' }, 'BAD_POLICY'],
      [{ format: 'blindsight-policy', version: 9, categories: [['dense']] }, 'BAD_POLICY'],
      [{ format: 'blindsight-policy', version: 1, numLayers: 1, numHeads: 2, categories: [['dense']] }, 'BAD_POLICY'],
      [{ format: 'blindsight-policy', version: 1, numLayers: 2, numHeads: 1, categories: [['dense'], ['dense', 'sink']] }, 'BAD_POLICY'],
      [{ format: 'blindsight-policy', version: 1, numLayers: 1, numHeads: 1, categories: [['sparse']] }, 'UNKNOWN_CATEGORY'],
    ];
    for (const [json, code] of bad) expect(() => HeadPolicy.fromJSON(json)).toThrow(expect.objectContaining({ code }));
    expect(() => HeadPolicy.parse('{oops')).toThrow(expect.objectContaining({ code: 'BAD_POLICY' }));
    const dir = mkdtempSync(path.join(tmpdir(), 'bs-policy-'));
    writeFileSync(path.join(dir, 'x.json'), '[]');
    await expect(HeadPolicy.load(path.join(dir, 'x.json'))).rejects.toMatchObject({ code: 'BAD_POLICY' });
    expect(() => HeadPolicy.uniform(1, 1, 'dense').layer(3)).toThrow(RangeError);
  });
});
