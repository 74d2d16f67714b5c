import { describe, expect, it } from 'vitest';
import { Layout, MaskPlan, HEAD_CATEGORIES, type HeadCategory, type PlanOptions } from '../../dist/index.js';
import { mulberry32, randomSegments, refLayout, refVisible, refVisiblePairs, type RefLayout, type RefOptions } from '../oracle/reference.js';

const optionSets: RefOptions[] = [
  { textKeys: true, bidirectionalImages: false, window: null },
  { textKeys: false, bidirectionalImages: false, window: null },
  { textKeys: true, bidirectionalImages: true, window: null },
  { textKeys: false, bidirectionalImages: true, window: 37 },
  { textKeys: true, bidirectionalImages: false, window: 5 },
  { textKeys: true, bidirectionalImages: true, window: 64 },
];

function planOf(L: Layout, o: RefOptions, extra: PlanOptions = {}): MaskPlan {
  return MaskPlan.build(L, { ...o, ...extra });
}

/**
 * Walks the plan of one category and checks it against the brute-force rule: every visible pair is covered exactly
 * once (a pair covered twice would be counted twice by the softmax), full runs hold only visible pairs, and nothing
 * outside the runs and gathers is visible. Returns the pairs the plan visits.
 */
function checkCoverage(plan: MaskPlan, R: RefLayout, cat: HeadCategory, o: RefOptions): number {
  const b = plan.blocks(cat);
  let visited = 0;
  const count = new Int32Array(R.numTokens);
  const full = new Uint8Array(R.numTokens);
  for (let i = 0; i < b.queryBlocks.length / 3; i++) {
    const [seq, q0, q1] = [b.queryBlocks[3 * i], b.queryBlocks[3 * i + 1], b.queryBlocks[3 * i + 2]];
    const s0 = R.cuSeqlens[seq], s1 = R.cuSeqlens[seq + 1];
    count.fill(0);
    full.fill(0);
    for (let r = b.runOffsets[i]; r < b.runOffsets[i + 1]; r++) {
      const [k0, k1, isFull] = [b.runs[3 * r], b.runs[3 * r + 1], b.runs[3 * r + 2]];
      expect(k0 >= s0 && k1 <= s1 && k0 < k1, `run [${k0},${k1}) inside sequence [${s0},${s1})`).toBe(true);
      expect((k0 - s0) % plan.options.blockN, 'runs start on block boundaries').toBe(0);
      for (let k = k0; k < k1; k++) {
        count[k]++;
        full[k] = isFull;
      }
    }
    for (let g = b.gatherOffsets[i]; g < b.gatherOffsets[i + 1]; g++) {
      const list = b.gathers[3 * g] === 0 ? b.sinkTokens : b.sharedTokens;
      for (let j = b.gathers[3 * g + 1]; j < b.gathers[3 * g + 2]; j++) {
        const k = list[j];
        expect(k >= s0 && k < s1, 'gathered key inside the sequence').toBe(true);
        count[k]++;
      }
    }
    for (let k = s0; k < s1; k++) visited += count[k] * (q1 - q0);
    for (let q = q0; q < q1; q++) {
      for (let k = s0; k < s1; k++) {
        const vis = refVisible(R, q, k, cat, o);
        if (vis && count[k] !== 1) throw new Error(`${cat}: visible pair (${q},${k}) covered ${count[k]} times`);
        if (!vis && full[k]) throw new Error(`${cat}: full tile holds hidden pair (${q},${k})`);
      }
    }
  }
  return visited;
}

describe('MaskPlan', () => {
  it('counts exactly the brute-force visible pairs, for every category and option', () => {
    const rng = mulberry32(7);
    for (let trial = 0; trial < 60; trial++) {
      const segs = randomSegments(rng, { maxTokens: 260 });
      const g = Math.floor(rng() * 3);
      const L = Layout.fromSegments(segs, { globalSinks: g });
      const R = refLayout(segs, g);
      const o = optionSets[trial % optionSets.length];
      const stats = planOf(L, o).stats([...HEAD_CATEGORIES]);
      for (const cs of stats.perCategory) expect(cs.visiblePairs, `${cs.category} ${JSON.stringify(o)}`).toBe(refVisiblePairs(R, cs.category, o));
      let dense = 0;
      for (let s = 0; s < L.numSequences; s++) {
        const n = L.cuSeqlens[s + 1] - L.cuSeqlens[s];
        dense += (n * (n + 1)) / 2;
      }
      expect(stats.denseCausalPairs).toBe(4 * dense);
    }
  });

  it('covers every visible pair exactly once; full tiles are full; skipped keys are hidden', () => {
    const rng = mulberry32(99);
    const blockSizes: [number, number][] = [[64, 64], [16, 32], [32, 8], [8, 16], [128, 64]];
    for (let trial = 0; trial < 40; trial++) {
      const segs = randomSegments(rng, { maxTokens: 240, maxImageLen: 150 });
      const g = Math.floor(rng() * 3);
      const L = Layout.fromSegments(segs, { globalSinks: g });
      const R = refLayout(segs, g);
      const o = optionSets[trial % optionSets.length];
      const [blockM, blockN] = blockSizes[trial % blockSizes.length];
      const plan = planOf(L, o, { blockM, blockN });
      const stats = plan.stats([...HEAD_CATEGORIES]);
      for (const cat of HEAD_CATEGORIES) {
        const visited = checkCoverage(plan, R, cat, o);
        expect(visited).toBe(stats.perCategory[HEAD_CATEGORIES.indexOf(cat)].computedPairs);
      }
    }
  });

  it('exhaustive mode covers everything the base mask allows, as partial tiles', () => {
    const rng = mulberry32(5);
    for (let trial = 0; trial < 10; trial++) {
      const segs = randomSegments(rng, { maxTokens: 200 });
      const L = Layout.fromSegments(segs);
      const R = refLayout(segs);
      const o = optionSets[trial % optionSets.length];
      const plan = planOf(L, o, { exhaustive: true });
      for (const cat of HEAD_CATEGORIES) {
        checkCoverage(plan, R, cat, o);
        const s = plan.stats(cat).perCategory.find((c) => c.category === cat)!;
        expect(s.fullBlocks).toBe(0);
        expect(s.gatheredKeys).toBe(0);
      }
    }
  });

  it('skips whole blocks on a multi-image prompt and gathers the scattered sinks', () => {
    const segs = [{ kind: 'text' as const, length: 64 }];
    for (let i = 0; i < 8; i++) segs.push({ kind: 'image', length: 256 } as never, { kind: 'text', length: 16 } as never);
    const plan = MaskPlan.build(Layout.fromSegments(segs), { textKeys: false });
    const st = plan.stats([...HEAD_CATEGORIES]);
    const [dense, sink, intra, intraSink] = st.perCategory;
    expect(dense.keptRatio).toBe(1);
    expect(intra.keptRatio).toBeLessThan(0.35);
    expect(sink.keptRatio).toBeLessThan(intra.keptRatio);
    expect(intraSink.keptRatio).toBeGreaterThan(intra.keptRatio);
    // The sinks of earlier images are visited as gathered keys, not as the blocks holding them: a sink head computes
    // little beyond its diagonal blocks and the text rows, which see everything.
    expect(sink.gatheredKeys).toBeGreaterThan(0);
    expect(sink.computedPairs).toBeLessThan(0.25 * dense.computedPairs);
    expect(sink.computedPairs).toBeLessThan(intra.computedPairs);
    expect(intra.skippedBlocks).toBeGreaterThan(intra.fullBlocks);
  });

  it('stays O(N) in memory for a long prompt', () => {
    const segs = [];
    for (let i = 0; i < 64; i++) segs.push({ kind: 'text' as const, length: 20 }, { kind: 'image' as const, length: 2048 });
    const L = Layout.fromSegments(segs);
    const plan = MaskPlan.build(L);
    expect(L.numTokens).toBeGreaterThan(130_000);
    // Far below an N x N mask (17 GB as bytes); linear in the number of query blocks.
    expect(plan.bytes).toBeLessThan(200 * plan.numQueryBlocks * 4);
  });
});

describe('dispose', () => {
  it('releases the plan; using it afterwards is DISPOSED, calls already running finish', async () => {
    const { attention, attentionSync, PromptAttention, HeadPolicy } = await import('../../dist/index.js');
    const layout = Layout.fromSegments([{ kind: 'text', length: 40 }, { kind: 'image', length: 300 }]);
    const plan = MaskPlan.build(layout);
    const n = layout.numTokens;
    const args = { q: new Float32Array(n * 2 * 16).fill(0.1), k: new Float32Array(n * 16).fill(0.2), v: new Float32Array(n * 16).fill(0.3), plan, heads: ['dense', 'sink'] as const, numHeads: 2, numKvHeads: 1, headDim: 16 };
    const running = attention({ ...args, heads: [...args.heads] });
    plan.dispose();
    expect((await running).out.every(Number.isFinite)).toBe(true);
    for (const use of [() => plan.stats('dense'), () => plan.blocks('dense'), () => attentionSync({ ...args, heads: [...args.heads] })])
      expect(use).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
    // The layout is unaffected: a new plan of it works.
    expect(MaskPlan.build(layout).stats('dense').keptRatio).toBe(1);
    const hook = PromptAttention.create(layout, HeadPolicy.uniform(1, 2, 'dense'), { numHeads: 2, numKvHeads: 1, headDim: 16 });
    hook.dispose();
    expect(() => hook.layer(0).forwardSync(args.q, args.k, args.v)).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
  });
});
