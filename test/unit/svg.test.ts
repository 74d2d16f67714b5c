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

  it('a block map draws exactly the plan: one rect per run, gathered keys merged into ranges', () => {
    const layout = Layout.fromSegments([[{ kind: 'text', length: 10 }, { kind: 'image', length: 100 }, { kind: 'text', length: 5 }, { kind: 'image', length: 80 }], [{ kind: 'image', length: 40 }]]);
    const plan = MaskPlan.build(layout, { blockM: 16, blockN: 16 });
    const svg = planSvg(plan);
    for (const c of HEAD_CATEGORIES) expect(svg).toContain(`font-weight="bold">${c}</text>`);
    const fills = (color: string) => count(svg, `fill="${color}"/>`);
    let runs = 0, fullRuns = 0;
    for (const c of HEAD_CATEGORIES) {
      const b = plan.blocks(c);
      runs += b.runs.length / 3;
      for (let i = 2; i < b.runs.length; i += 3) fullRuns += b.runs[i]!;
    }
    expect(fills('#1f5fa8')).toBe(fullRuns); // legend swatches carry a stroke, so they do not match
    expect(fills('#8fbde3')).toBe(runs - fullRuns);
    expect(svg).toContain(`kept ${(100 * plan.stats('sink').perCategory[1]!.keptRatio).toFixed(1)} %`);
    const one = planSvg(plan, { categories: ['intra-image'] });
    expect(count(one, 'font-weight="bold">intra-image</text>')).toBe(1);
    expect(one).not.toContain('font-weight="bold">dense</text>');
  });
});
