/** Inputs that looked valid but were not: names of Object.prototype, sparse arrays, shared memory. */
import { describe, expect, it } from 'vitest';
import { attention, attentionSync, HeadPolicy, Layout, MaskPlan } from '../../dist/index.js';
import { policyFlops } from '../../dist/report/index.js';
import { randomQkv } from '../helpers/tensors.js';

describe('names are looked up as own properties only', () => {
  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])('template %s is UNKNOWN_TEMPLATE', (name) => {
    expect(() => Layout.fromTokenIds([1, 2, 3], name as never)).toThrow(expect.objectContaining({ code: 'UNKNOWN_TEMPLATE' }));
  });
  it.each(['constructor', '__proto__', 'valueOf'])('model %s is UNKNOWN_MODEL', (name) => {
    const layout = Layout.fromSegments([{ kind: 'text', length: 4 }]);
    expect(() => policyFlops(HeadPolicy.uniform(1, 1, 'dense'), layout, name as never)).toThrow(expect.objectContaining({ code: 'UNKNOWN_MODEL' }));
  });
});

describe('sparse arrays', () => {
  const layout = Layout.fromSegments([{ kind: 'text', length: 8 }, { kind: 'image', length: 8 }]);
  const plan = MaskPlan.build(layout);
  const { q, k, v } = randomQkv(1, layout.numTokens, 2, 1, 8);
  it('a hole in heads is UNKNOWN_CATEGORY, not a silent dense head', () => {
    const heads = new Array(2) as ('dense' | 'sink')[];
    heads[1] = 'sink';
    expect(() => attentionSync({ q, k, v, plan, heads, numHeads: 2, numKvHeads: 1, headDim: 8 })).toThrow(expect.objectContaining({ code: 'UNKNOWN_CATEGORY' }));
  });
  it('a hole in a policy row is UNKNOWN_CATEGORY', () => {
    const row = new Array(2) as 'dense'[];
    row[0] = 'dense';
    expect(() => new HeadPolicy([row])).toThrow(expect.objectContaining({ code: 'UNKNOWN_CATEGORY' }));
  });
});

describe('SharedArrayBuffer-backed tensors', () => {
  it('work in place, sync and async, with the same result as ordinary arrays', async () => {
    const layout = Layout.fromSegments([{ kind: 'text', length: 30 }, { kind: 'image', length: 100 }]);
    const plan = MaskPlan.build(layout);
    const t = randomQkv(2, layout.numTokens, 4, 2, 16);
    const shared = (x: Float32Array) => {
      const s = new Float32Array(new SharedArrayBuffer(x.byteLength));
      s.set(x);
      return s;
    };
    const args = { plan, heads: ['dense', 'sink', 'intra-image', 'intra-image+sink'] as const, numHeads: 4, numKvHeads: 2, headDim: 16 };
    const want = attentionSync({ ...t, ...args, heads: [...args.heads] }).out;
    const out = shared(new Float32Array(want.length));
    const sync = attentionSync({ q: shared(t.q), k: shared(t.k), v: shared(t.v), out, ...args, heads: [...args.heads] });
    expect(sync.out).toBe(out);
    expect(Array.from(out)).toEqual(Array.from(want));
    const out2 = shared(new Float32Array(want.length));
    const async = await attention({ q: shared(t.q), k: shared(t.k), v: shared(t.v), out: out2, ...args, heads: [...args.heads] });
    expect(async.out).toBe(out2);
    expect(Array.from(out2)).toEqual(Array.from(want));
  });
});
