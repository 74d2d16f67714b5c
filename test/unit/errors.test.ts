import { describe, expect, it } from 'vitest';
import { attention, attentionSync, BlindsightError, Layout, MaskPlan, setThreads, type AttentionArgs } from '../../dist/index.js';
import { randomQkv } from '../helpers/tensors.js';

const L = Layout.fromSegments([[{ kind: 'text', length: 5 }, { kind: 'image', length: 6 }]]);
const plan = MaskPlan.build(L);
const H = 4, KV = 2, D = 16;
const { q, k, v } = randomQkv(1, L.numTokens, H, KV, D);
const good: AttentionArgs = { q, k, v, plan, heads: ['dense', 'sink', 'intra-image', 'intra-image+sink'], numHeads: H, numKvHeads: KV, headDim: D };

function expectCode(fn: () => unknown, code: string) {
  expect(fn).toThrow(expect.objectContaining({ name: 'BlindsightError', code }));
}

describe('bad segments', () => {
  it.each<[unknown, string]>([
    [[], 'empty batch'],
    [[[]], 'empty sequence'],
    [[[{ kind: 'text', length: 0 }]], 'zero length'],
    [[[{ kind: 'text', length: -2 }]], 'negative length'],
    [[[{ kind: 'image', length: 1.5 }]], 'fractional length'],
    [[[{ kind: 'image', length: '3' }]], 'string length'],
    [[[{ kind: 'video', length: 3 }]], 'unknown kind'],
    [[[null]], 'null segment'],
    [[[{ kind: 'text', length: 2 ** 40 }]], 'too many tokens'],
  ])('%j (%s)', (segs) => {
    expect(() => Layout.fromSegments(segs as never)).toThrow(BlindsightError);
  });
  it('globalSinks must be a non-negative integer', () => {
    expect(() => Layout.fromSegments([{ kind: 'text', length: 2 }], { globalSinks: -1 })).toThrow(RangeError);
    expect(() => Layout.fromSegments([{ kind: 'text', length: 2 }], { globalSinks: 0.5 })).toThrow(RangeError);
  });
});

describe('bad plan options', () => {
  it.each([
    [{ window: 0 }, RangeError],
    [{ window: -4 }, RangeError],
    [{ window: 1.5 }, RangeError],
    [{ blockM: 12 }, RangeError],
    [{ blockN: 512 }, RangeError],
    [{ textKeys: 'yes' }, TypeError],
  ])('%j', (opts, type) => {
    expect(() => MaskPlan.build(L, opts as never)).toThrow(type);
  });
  it('needs a Layout', () => {
    expect(() => MaskPlan.build({ numTokens: 3 } as never)).toThrow(TypeError);
  });
  it('stats reject unknown categories', () => {
    expectCode(() => plan.stats(['dense', 'sparse' as never]), 'UNKNOWN_CATEGORY');
  });
});

describe('bad attention calls', () => {
  const cases: [string, Partial<AttentionArgs> | Record<string, unknown>, string | typeof TypeError | typeof RangeError][] = [
    ['q is a Float64Array', { q: new Float64Array(q.length) }, TypeError],
    ['q is a plain array', { q: Array.from(q) }, TypeError],
    ['k is missing', { k: undefined }, TypeError],
    ['q too short', { q: q.subarray(1) }, 'SHAPE_MISMATCH'],
    ['v too long', { v: new Float32Array(v.length + D) }, 'SHAPE_MISMATCH'],
    ['out wrong length', { out: new Float32Array(3) }, 'SHAPE_MISMATCH'],
    ['lse wrong length', { lse: new Float32Array(3) }, 'SHAPE_MISMATCH'],
    ['numHeads not a multiple of numKvHeads', { numHeads: 3, heads: ['dense', 'dense', 'dense'] }, 'BAD_GQA'],
    ['heads length differs from numHeads', { heads: ['dense'] }, 'SHAPE_MISMATCH'],
    ['unknown category', { heads: ['dense', 'sink', 'intra', 'dense'] }, 'UNKNOWN_CATEGORY'],
    ['heads not an array', { heads: 'dense' }, TypeError],
    ['headDim not a multiple of 8', { headDim: 12 }, RangeError],
    ['headDim zero', { headDim: 0 }, RangeError],
    ['numHeads fractional', { numHeads: 2.5 }, TypeError],
    ['scale NaN', { scale: Number.NaN }, RangeError],
    ['threads negative', { threads: -1 }, RangeError],
    ['plan is not a MaskPlan', { plan: {} }, TypeError],
    ['out aliases q', { out: q }, 'ALIASED_OUTPUT'],
    ['lse overlaps k', { lse: new Float32Array(k.buffer, 0, L.numTokens * H) }, 'ALIASED_OUTPUT'],
    ['isa unknown', { isa: 'sse9' }, 'UNSUPPORTED_ISA'],
    ['byte count overflow', { plan: MaskPlan.build(Layout.fromSegments([{ kind: 'text', length: 300_000 }])), numHeads: 65536, numKvHeads: 1, headDim: 512, heads: Array(65536).fill('dense') }, 'SIZE_OVERFLOW'],
  ];
  it.each(cases)('%s', async (_name, patch, expected) => {
    const args = { ...good, ...patch } as AttentionArgs;
    if (typeof expected === 'string') {
      expectCode(() => attentionSync(args), expected);
      await expect(attention(args)).rejects.toMatchObject({ name: 'BlindsightError', code: expected });
    } else {
      expect(() => attentionSync(args)).toThrow(expected);
      await expect(attention(args)).rejects.toBeInstanceOf(expected);
    }
  });

  it('a tensor from another layout is a shape mismatch', () => {
    const other = Layout.fromSegments([{ kind: 'text', length: 7 }]);
    expectCode(() => attentionSync({ ...good, plan: MaskPlan.build(other) }), 'SHAPE_MISMATCH');
  });

  it('the process survives and later calls still work', () => {
    expect(attentionSync(good).out.every(Number.isFinite)).toBe(true);
  });

  it('setThreads validates', () => {
    expect(() => setThreads(-1)).toThrow(RangeError);
    expect(() => setThreads(1.5)).toThrow(RangeError);
    setThreads(1);
    expect(attentionSync(good).out.every(Number.isFinite)).toBe(true);
    setThreads(0);
  });
});
