import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Layout } from '../../dist/index.js';
import { calibrate, encodeSafetensors, openSample, SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../dist/calibration/index.js';
import { encode } from '../helpers/half.js';
import { plantedQk, type Planted } from '../helpers/planted.js';

const dir = mkdtempSync(path.join(tmpdir(), 'bs-safetensors-'));
let counter = 0;
const file = (bytes: Uint8Array | string) => {
  const p = path.join(dir, `f${counter++}.safetensors`);
  writeFileSync(p, bytes);
  return p;
};

/** A raw file from a header object and a data section. */
function raw(header: unknown, data = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors reader', () => {
  it('round-trips every dtype it writes, with metadata, and reads tensors one at a time', async () => {
    const tensors: Record<string, TensorToWrite> = {
      a: { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6.5]) },
      b: { dtype: 'BF16', shape: [3], data: new Uint16Array([0x3f80, 0x4000, 0xc040]) },
      c: { dtype: 'I64', shape: [1, 2], data: new BigInt64Array([151652n, -1n]) },
      d: { dtype: 'U8', shape: [0], data: new Uint8Array(0) },
      e: { dtype: 'F16', shape: [1], data: new Uint16Array([0x3c00]) },
    };
    const p = path.join(dir, 'round.safetensors');
    await writeSafetensors(p, tensors, { hello: 'world' });
    const f = await SafetensorsFile.open(p);
    try {
      expect(f.metadata).toEqual({ hello: 'world' });
      expect([...f.tensors.keys()].sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
      expect(f.info('a')).toMatchObject({ dtype: 'F32', shape: [2, 3] });
      expect(Array.from((await f.read('a')) as Float32Array)).toEqual([1, 2, 3, 4, 5, 6.5]);
      expect(Array.from((await f.read('b')) as Uint16Array)).toEqual([0x3f80, 0x4000, 0xc040]);
      expect(Array.from((await f.read('c')) as BigInt64Array)).toEqual([151652n, -1n]);
      expect((await f.read('d')).length).toBe(0);
      await expect(f.read('zzz')).rejects.toMatchObject({ code: 'MISSING_TENSOR' });
    } finally {
      await f.close();
    }
    // The data section starts 8-byte aligned, as the writer pads the header.
    const bytes = encodeSafetensors(tensors);
    expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
  });

  it('rejects malformed files with BAD_SAFETENSORS', async () => {
    const f32 = (n: number) => new Uint8Array(n * 4);
    const cases: [string, Uint8Array | string][] = [
      ['empty file', new Uint8Array(0)],
      ['short header length', new Uint8Array(5)],
      ['header longer than the file', (() => { const b = new Uint8Array(16); new DataView(b.buffer).setBigUint64(0, 1000n, true); return b; })()],
      ['header not JSON', (() => { const j = new TextEncoder().encode('{nope'); const b = new Uint8Array(8 + j.length); new DataView(b.buffer).setBigUint64(0, BigInt(j.length), true); b.set(j, 8); return b; })()],
      ['header an array', raw([])],
      ['unknown dtype', raw({ a: { dtype: 'F8', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1))],
      ['negative shape', raw({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f32(1))],
      ['bad offsets', raw({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, f32(1))],
      ['shape and offsets disagree', raw({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, f32(1))],
      ['data truncated', raw({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, f32(2))],
      ['overlapping tensors', raw({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, f32(3))],
      ['a hole between tensors', raw({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, f32(3))],
      ['non-string metadata', raw({ __metadata__: { n: 1 } })],
    ];
    for (const [what, bytes] of cases) {
      await expect(SafetensorsFile.open(file(bytes)), what).rejects.toMatchObject({ code: 'BAD_SAFETENSORS' });
    }
    await expect(SafetensorsFile.open(path.join(dir, 'missing.safetensors'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('calibration samples in safetensors files', () => {
  const segments = [{ kind: 'text', length: 6 }, { kind: 'image', length: 30 }, { kind: 'text', length: 3 }, { kind: 'image', length: 40 }, { kind: 'text', length: 2 }, { kind: 'image', length: 35 }, { kind: 'text', length: 5 }] as const;
  const layout = Layout.fromSegments(segments as never);
  const N = layout.numTokens, H = 4, KV = 2, D = 8;
  const heads: Planted[] = ['intra-image', 'sink', 'intra-image+sink', 'dense'];

  function sampleTensors(layers: number, dtype: 'F32' | 'F16' | 'BF16' = 'F32'): Record<string, TensorToWrite> {
    const out: Record<string, TensorToWrite> = {};
    for (let l = 0; l < layers; l++) {
      const { q, k } = plantedQk(layout, heads, KV, D, l);
      const data = (x: Float32Array) => (dtype === 'F32' ? x : encode(x, dtype === 'F16' ? 'f16' : 'bf16'));
      out[`layers.${l}.q`] = { dtype, shape: [N, H, D], data: data(q) };
      out[`layers.${l}.k`] = { dtype, shape: [N, KV, D], data: data(k) };
    }
    return out;
  }
  const write = async (tensors: Record<string, TensorToWrite>, meta: Record<string, string> = { 'blindsight.segments': JSON.stringify(segments), 'blindsight.scale': '1' }) => {
    const p = path.join(dir, `s${counter++}.safetensors`);
    await writeSafetensors(p, tensors, meta);
    return p;
  };

  it.each(['F32', 'F16', 'BF16'] as const)('%s samples calibrate to the planted categories', async (dtype) => {
    const p = await write(sampleTensors(2, dtype), { 'blindsight.segments': JSON.stringify(segments), 'blindsight.scale': '1', 'blindsight.model': 'toy' });
    const s = await openSample(p);
    expect(s).toMatchObject({ numLayers: 2, numHeads: H, numKvHeads: KV, headDim: D, dtype: dtype.toLowerCase(), scale: 1, model: 'toy' });
    expect(s.layout.numTokens).toBe(N);
    await s.close!();
    const policy = await calibrate([p]);
    expect(policy.model).toBe('toy');
    expect(policy.layer(0)).toEqual(heads);
    expect(policy.layer(1)).toEqual(heads);
  });

  it('reads the layout from input_ids and a template', async () => {
    const ids: bigint[] = [];
    for (const seg of segments) {
      if (seg.kind === 'text') for (let i = 0; i < seg.length; i++) ids.push(100n);
      else {
        ids.push(151652n);
        for (let i = 0; i < seg.length - 2; i++) ids.push(151655n);
        ids.push(151653n);
      }
    }
    const tensors = { ...sampleTensors(1), input_ids: { dtype: 'I64', shape: [1, N], data: new BigInt64Array(ids) } as TensorToWrite };
    const withTemplate = await write(tensors, { 'blindsight.template': 'qwen2-vl', 'blindsight.global_sinks': '2' });
    const s = await openSample(withTemplate);
    expect(s.layout.segments()).toEqual([segments.map((x) => ({ ...x }))]);
    expect(s.layout.globalSinks).toBe(2);
    await s.close!();
    const noTemplate = await write(tensors, {});
    await expect(openSample(noTemplate)).rejects.toMatchObject({ code: 'MISSING_LAYOUT' });
    const t = await openSample(noTemplate, { template: 'qwen2.5-vl' });
    expect(t.layout.numImages).toBe(3);
    await t.close!();
  });

  it('rejects missing layers, shape mismatches and layouts of another size', async () => {
    const good = sampleTensors(3);
    const without = (name: string) => Object.fromEntries(Object.entries(good).filter(([n]) => n !== name));
    await expect(openSample(await write(without('layers.1.k')))).rejects.toMatchObject({ code: 'MISSING_LAYER', message: expect.stringContaining('layers.1.k') });
    await expect(openSample(await write(without('layers.0.q')))).rejects.toMatchObject({ code: 'MISSING_LAYER' });
    await expect(openSample(await write({ other: good['layers.0.q']! }))).rejects.toMatchObject({ code: 'MISSING_LAYER' });

    const reshaped = (name: string, shape: number[]) => ({ ...good, [name]: { ...good[name]!, shape } });
    await expect(openSample(await write(reshaped('layers.2.q', [N, H * D])))).rejects.toMatchObject({ code: 'SHAPE_MISMATCH' });
    await expect(openSample(await write(reshaped('layers.2.q', [N, H / 2, D * 2])))).rejects.toMatchObject({ code: 'SHAPE_MISMATCH' });
    await expect(openSample(await write(reshaped('layers.1.k', [N, KV / 2, D * 2])))).rejects.toMatchObject({ code: 'SHAPE_MISMATCH' });
    await expect(openSample(await write(reshaped('layers.1.k', [N, 1, D * 2])))).rejects.toMatchObject({ code: 'SHAPE_MISMATCH' });
    const threeKv = { 'layers.0.q': { dtype: 'F32', shape: [N, 4, D], data: new Float32Array(N * 4 * D) }, 'layers.0.k': { dtype: 'F32', shape: [N, 3, D], data: new Float32Array(N * 3 * D) } } as Record<string, TensorToWrite>;
    await expect(openSample(await write(threeKv))).rejects.toMatchObject({ code: 'BAD_GQA' });
    const mixed = { ...good, 'layers.1.q': { dtype: 'F16', shape: [N, H, D], data: new Uint16Array(N * H * D) } } as Record<string, TensorToWrite>;
    await expect(openSample(await write(mixed))).rejects.toMatchObject({ code: 'UNSUPPORTED_DTYPE' });
    const ints = { 'layers.0.q': { dtype: 'I32', shape: [N, H, D], data: new Int32Array(N * H * D) }, 'layers.0.k': { dtype: 'I32', shape: [N, KV, D], data: new Int32Array(N * KV * D) } } as Record<string, TensorToWrite>;
    await expect(openSample(await write(ints))).rejects.toMatchObject({ code: 'UNSUPPORTED_DTYPE' });

    const longer = JSON.stringify([...segments, { kind: 'text', length: 1 }]);
    await expect(openSample(await write(good, { 'blindsight.segments': longer }))).rejects.toMatchObject({ code: 'LAYOUT_MISMATCH' });
    await expect(openSample(await write(good, {}))).rejects.toMatchObject({ code: 'MISSING_LAYOUT' });
    await expect(openSample(await write(good, { 'blindsight.segments': '[{' }))).rejects.toMatchObject({ code: 'BAD_SEGMENTS' });
    await expect(openSample(await write(good, { 'blindsight.segments': JSON.stringify(segments), 'blindsight.scale': 'big' }))).rejects.toMatchObject({ code: 'BAD_SAMPLE' });
    // A layout given by the caller must match too.
    await expect(openSample(await write(good, {}), { layout: Layout.fromSegments([{ kind: 'image', length: 3 }]) })).rejects.toMatchObject({ code: 'LAYOUT_MISMATCH' });
    // Samples of different models do not mix.
    const other = await write(Object.fromEntries(Object.entries(sampleTensors(2)).slice(0, 4)));
    await expect(calibrate([await write(good), other])).rejects.toMatchObject({ code: 'SHAPE_MISMATCH' });
  });
});
