import { describe, expect, it } from 'vitest';
import { HEAD_CATEGORIES, HeadPolicy, Layout, MaskPlan } from '../../dist/index.js';
import { CATEGORY_COLORS, planSvg, policySvg } from '../../dist/report/index.js';

const count = (s: string, needle: string) => s.split(needle).length - 1;

describe('pictures', () => {
  it('a policy grid has one coloured cell per (layer, head), a legend with counts, pinned layers marked', () => {
    const cats = [
      ['dense', 'sink', 'intra-image'],
      ['intra-image+sink', 'sink', 'sink'],
    ] as const;
    const meta = { calibration: { pinned: { first: 1, last: 0, layers: [] }, samples: [], threshold: 0.95, worstSampleThreshold: 0.9, textKeys: true } };
    const svg = policySvg(new HeadPolicy(cats as never, { model: 'toy <model>', meta }));
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('toy &lt;model&gt;');
    const cells = [...svg.matchAll(/<rect [^>]*fill="(#[0-9a-f]{6})"><title>layer (\d+), head (\d+): ([a-z+-]+)/g)];
    expect(cells).toHaveLength(6);
    for (const [, color, l, h, cat] of cells) {
      expect(cat).toBe(cats[Number(l)]![Number(h)]);
      expect(color).toBe(CATEGORY_COLORS[cat as keyof typeof CATEGORY_COLORS]);
    }
    expect(svg).toContain('sink: 3 (50.0 %)');
    expect(svg).toContain('pinned 0');
    expect(() => policySvg({} as never)).toThrow(TypeError);
  });

  it('a block map draws exactly the plan: every (query, key) cell in the colour of what the plan does there', () => {
    // 235 tokens on a 380-pixel panel: one grid cell per token pair, so the picture is exact.
    const layout = Layout.fromSegments([[{ kind: 'text', length: 10 }, { kind: 'image', length: 100 }, { kind: 'text', length: 5 }, { kind: 'image', length: 80 }], [{ kind: 'image', length: 40 }]]);
    const plan = MaskPlan.build(layout, { blockM: 16, blockN: 16 });
    const N = layout.numTokens;
    const colors = { skipped: '#ececec', gathered: '#f28e2b', partial: '#8fbde3', full: '#1f5fa8' };
    for (const c of HEAD_CATEGORIES) {
      const svg = planSvg(plan, { categories: [c] });
      expect(svg).toContain(`font-weight="bold">${c}</text>`);
      // Decode the panel's rects (in grid units: panel / N pixels per token) back into a token grid.
      const cell = 380 / N;
      const got = Array.from({ length: N }, () => new Array<string>(N).fill('none'));
      const body = svg.slice(svg.indexOf('<g shape-rendering'), svg.indexOf('</g>', svg.indexOf('<g shape-rendering')));
      for (const m of body.matchAll(/<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="(#[0-9a-f]{6})"\/>/g)) {
        const [x, y, w, h] = [m[1], m[2], m[3], m[4]].map((v) => Math.round(Number(v) / cell));
        const name = Object.entries(colors).find(([, v]) => v === m[5])?.[0];
        if (!name) continue;
        for (let r = y!; r < y! + h!; r++) for (let k = x!; k < x! + w!; k++) got[r]![k] = name;
      }
      // What the plan says, independently.
      const rank = { none: 0, skipped: 1, gathered: 2, partial: 3, full: 4 } as const;
      const want = Array.from({ length: N }, () => new Array<keyof typeof rank>(N).fill('none'));
      const set = (q: number, k: number, v: keyof typeof rank) => { if (rank[v] > rank[want[q]![k]!]) want[q]![k] = v; };
      for (let s = 0; s + 1 < layout.cuSeqlens.length; s++)
        for (let q = layout.cuSeqlens[s]!; q < layout.cuSeqlens[s + 1]!; q++) for (let k = layout.cuSeqlens[s]!; k < layout.cuSeqlens[s + 1]!; k++) set(q, k, 'skipped');
      const b = plan.blocks(c);
      for (let qb = 0; qb < b.queryBlocks.length / 3; qb++) {
        for (let q = b.queryBlocks[qb * 3 + 1]!; q < b.queryBlocks[qb * 3 + 2]!; q++) {
          for (let r = b.runOffsets[qb]!; r < b.runOffsets[qb + 1]!; r++)
            for (let k = b.runs[r * 3]!; k < b.runs[r * 3 + 1]!; k++) set(q, k, b.runs[r * 3 + 2] ? 'full' : 'partial');
          for (let g = b.gatherOffsets[qb]!; g < b.gatherOffsets[qb + 1]!; g++) {
            const list = b.gathers[g * 3] === 0 ? b.sinkTokens : b.sharedTokens;
            for (let i = b.gathers[g * 3 + 1]!; i < b.gathers[g * 3 + 2]!; i++) set(q, list[i]!, 'gathered');
          }
        }
      }
      expect(got).toEqual(want);
      expect(svg).toContain(`kept ${(100 * plan.stats(c).perCategory[HEAD_CATEGORIES.indexOf(c)]!.keptRatio).toFixed(1)} %`);
    }
  });

  it('a huge layout draws in bounded time and size: 300K tokens of 100K images', () => {
    const segs = [];
    for (let i = 0; i < 100_000; i++) segs.push({ kind: 'image' as const, length: 2 }, { kind: 'text' as const, length: 1 });
    const plan = MaskPlan.build(Layout.fromSegments(segs));
    const t0 = performance.now();
    const svg = planSvg(plan);
    expect(performance.now() - t0).toBeLessThan(20_000);
    expect(svg.length).toBeLessThan(40 << 20);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  });
});
