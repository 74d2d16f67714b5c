/**
 * Pictures a person can check a mask by: a policy as a layers x heads grid coloured by category, and a plan's block
 * map (which tiles of the attention matrix each category computes fully, partially or through gathered keys, and
 * which it skips). Plain SVG strings, no dependencies; every mark carries a <title> for hovering in a browser.
 */
import { HEAD_CATEGORIES, type HeadCategory } from '../core/categories.js';
import { retainedMass } from '../calibration/mass.js';
import { MaskPlan } from '../core/plan.js';
import { HeadPolicy } from '../core/policy.js';
import type { CalibrationStats } from '../calibration/calibrate.js';
import { background, esc, svgOpen } from './svg_writer.js';
import { typeError } from '../core/errors.js';

export const CATEGORY_COLORS: Readonly<Record<HeadCategory, string>> = Object.freeze({
  dense: '#5a5a5a',
  sink: '#2ca02c',
  'intra-image': '#1f77b4',
  'intra-image+sink': '#9467bd',
});

const BLOCK_COLORS = { full: '#1f5fa8', partial: '#8fbde3', gathered: '#f28e2b', skipped: '#ececec' } as const;
// Adjacent images alternate two reds, kept apart from the orange of gathered keys.
const SEGMENT_COLORS = { text: '#b8b8b8', image: ['#e15759', '#a8323e'] } as const;
const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';

const num = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(2));
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

/** A policy as a grid: one row per layer, one column per head, coloured by category; pinned layers are marked. */
export function policySvg(policy: HeadPolicy, options: { title?: string } = {}): string {
  if (!(policy instanceof HeadPolicy)) throw typeError('policySvg expects a HeadPolicy');
  const L = policy.numLayers, H = policy.numHeads;
  const cell = Math.max(6, Math.min(24, Math.floor(720 / Math.max(L, H))));
  const left = 64, top = 88, legendW = 230;
  const gridW = H * cell, gridH = L * cell;
  const width = left + gridW + 24 + legendW, height = Math.max(top + gridH + 40, top + 170);
  const stats = policy.meta.calibration as CalibrationStats | undefined;
  const pinned = new Set<number>(stats?.pinned ? [
    ...stats.pinned.layers,
    ...Array.from({ length: Math.min(stats.pinned.first, L) }, (_, i) => i),
    ...Array.from({ length: Math.min(stats.pinned.last, L) }, (_, i) => L - 1 - i),
  ] : []);
  const labelEvery = Math.max(1, Math.ceil(14 / cell));
  const out: string[] = [];
  out.push(svgOpen(width, height, FONT));
  out.push(background('white'));
  const title = options.title ?? `Head policy${policy.model ? ` - ${policy.model}` : ''}: ${L} layers x ${H} heads`;
  out.push(`<text x="${left}" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`);
  if (stats) out.push(`<text x="${left}" y="44" font-size="12" fill="#444">calibrated on ${stats.samples.length} sample(s), threshold ${stats.threshold} (worst sample ${stats.worstSampleThreshold}), textKeys ${stats.textKeys}</text>`);
  out.push(`<text x="${left + gridW / 2}" y="${top - 18}" font-size="11" text-anchor="middle" fill="#444">head</text>`);
  out.push(`<text transform="translate(16 ${top + gridH / 2}) rotate(-90)" font-size="11" text-anchor="middle" fill="#444">layer</text>`);
  for (let h = 0; h < H; h += labelEvery)
    out.push(`<text x="${left + h * cell + cell / 2}" y="${top - 4}" font-size="9" text-anchor="middle">${h}</text>`);
  out.push(`<g shape-rendering="crispEdges">`);
  for (let l = 0; l < L; l++) {
    if (l % labelEvery === 0 || pinned.has(l))
      out.push(`<text x="${left - 6}" y="${top + l * cell + cell / 2 + 3}" font-size="9" text-anchor="end"${pinned.has(l) ? ' font-weight="bold"' : ''}>${pinned.has(l) ? `pinned ${l}` : l}</text>`);
    for (let h = 0; h < H; h++) {
      const c = policy.get(l, h);
      let tip = `layer ${l}, head ${h}: ${c}`;
      const mass = stats?.mass?.[l]?.[h];
      if (mass) tip += ` (retained: ${HEAD_CATEGORIES.map((k) => `${k} ${pct(retainedMass(mass, k, stats!.textKeys))}`).join(', ')})`;
      out.push(`<rect x="${left + h * cell}" y="${top + l * cell}" width="${cell - 1}" height="${cell - 1}" fill="${CATEGORY_COLORS[c]}"><title>${esc(tip)}</title></rect>`);
    }
  }
  out.push(`</g>`);
  const counts = policy.counts();
  const lx = left + gridW + 24;
  out.push(`<text x="${lx}" y="${top + 4}" font-size="12" font-weight="bold">category (heads)</text>`);
  HEAD_CATEGORIES.forEach((c, i) => {
    const y = top + 18 + i * 24;
    out.push(`<rect x="${lx}" y="${y}" width="16" height="16" fill="${CATEGORY_COLORS[c]}"/>`);
    out.push(`<text x="${lx + 24}" y="${y + 12}" font-size="12">${c}: ${counts[c]} (${pct(counts[c] / (L * H))})</text>`);
  });
  if (stats?.keptRatio) {
    const kept = stats.keptRatio[stats.textKeys ? 'textKeys' : 'noTextKeys'];
    const avg = HEAD_CATEGORIES.reduce((a, c) => a + counts[c] * kept[c], 0) / (L * H);
    out.push(`<text x="${lx}" y="${top + 130}" font-size="11" fill="#444">attention FLOPs kept on the</text>`);
    out.push(`<text x="${lx}" y="${top + 145}" font-size="11" fill="#444">calibration prompts: ${pct(avg)}</text>`);
    out.push(`<text x="${lx}" y="${top + 170}" font-size="11" fill="#444">hover a cell for its retained mass</text>`);
  }
  out.push(`</svg>`);
  return out.join('\n');
}

/**
 * A plan's block map, one panel per category: query tokens down, key tokens across (the attention matrix). Dark
 * tiles are computed without the element rule (full), light ones with it (partial), orange columns are keys visited
 * through gathered tiles (scattered sinks and text), grey is skipped; white is outside any sequence. The strips along
 * the axes show the layout (grey text, red/orange images).
 */
export function planSvg(plan: MaskPlan, options: { categories?: readonly HeadCategory[]; title?: string; panelSize?: number } = {}): string {
  if (!(plan instanceof MaskPlan)) throw typeError('planSvg expects a MaskPlan');
  const categories = options.categories ?? HEAD_CATEGORIES;
  const P = options.panelSize ?? 380;
  const layout = plan.layout;
  const N = layout.numTokens;
  const cols = Math.min(2, categories.length);
  const rows = Math.ceil(categories.length / cols);
  const padL = 40, padT = 112, gapX = 56, gapY = 104;
  const width = padL + cols * P + (cols - 1) * gapX + 30;
  const height = padT + rows * P + (rows - 1) * gapY + 84;
  const stats = plan.stats([...HEAD_CATEGORIES]);
  const out: string[] = [];
  out.push(svgOpen(width, height, FONT));
  out.push(background('white'));
  const o = plan.options;
  const title = options.title ?? `Block plan: ${N} tokens, ${layout.numSequences} sequence(s), ${layout.numImages} image(s); blocks ${o.blockM} x ${o.blockN}`;
  out.push(`<text x="${padL}" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="${padL}" y="44" font-size="12" fill="#444">textKeys ${o.textKeys}, bidirectionalImages ${o.bidirectionalImages}, window ${o.window ?? 'off'}; rows = queries, columns = keys</text>`);
  const legend: [string, string][] = [['full', BLOCK_COLORS.full], ['partial', BLOCK_COLORS.partial], ['gathered keys', BLOCK_COLORS.gathered], ['skipped', BLOCK_COLORS.skipped], ['text', SEGMENT_COLORS.text], ['image', SEGMENT_COLORS.image[0]]];
  legend.forEach(([name, color], i) => {
    const x = padL + i * 118;
    out.push(`<rect x="${x}" y="56" width="14" height="14" fill="${color}" stroke="#999" stroke-width="0.5"/><text x="${x + 19}" y="67" font-size="11">${name}</text>`);
  });

  const segs = segmentRuns(layout.imageIds, layout.cuSeqlens);
  categories.forEach((category, i) => {
    const x0 = padL + (i % cols) * (P + gapX);
    const y0 = padT + Math.floor(i / cols) * (P + gapY);
    const cs = stats.perCategory[HEAD_CATEGORIES.indexOf(category)]!;
    out.push(`<g transform="translate(${x0} ${y0})">`);
    out.push(`<text x="0" y="-16" font-size="13" font-weight="bold">${esc(category)}</text>`);
    out.push(`<g shape-rendering="crispEdges">`);
    // Layout strips (keys along the top, queries down the left), then the plan.
    for (const r of stripRects(segs, N, P)) out.push(r);
    for (const r of rasterRects(plan.blocks(category), layout.cuSeqlens, N, P)) out.push(r);
    out.push(`</g>`);
    out.push(`<rect x="0" y="0" width="${P}" height="${P}" fill="none" stroke="#333" stroke-width="0.8"/>`);
    out.push(`<text x="0" y="${P + 18}" font-size="11">kept ${pct(cs.keptRatio)} of the dense causal pairs</text>`);
    out.push(`<text x="0" y="${P + 33}" font-size="11">blocks: ${cs.fullBlocks} full, ${cs.partialBlocks} partial, ${cs.skippedBlocks} skipped</text>`);
    out.push(`<text x="0" y="${P + 48}" font-size="11">gathered keys: ${cs.gatheredKeys} (summed over query blocks)</text>`);
    out.push(`</g>`);
  });
  out.push(`</svg>`);
  return out.join('\n');
}

/** The layout strips on the same grid: per cell the segment that ends there (text grey, images alternating). */
function stripRects(segs: { begin: number; end: number; image: number }[], numTokens: number, panel: number): string[] {
  const G = Math.max(1, Math.min(panel, numTokens));
  const cellOf = (t: number) => Math.min(G - 1, Math.floor((t * G) / numTokens));
  const cells = new Int8Array(G).fill(-1); // -1 text, 0 / 1 image parity
  for (const g of segs) for (let c = cellOf(g.begin); c <= cellOf(g.end - 1); c++) if (g.image >= 0 || cells[c] === -1) cells[c] = g.image < 0 ? -1 : g.image % 2;
  const cell = panel / G;
  const rects: string[] = [];
  for (let c = 0; c < G; ) {
    let e = c + 1;
    while (e < G && cells[e] === cells[c]) e++;
    const color = cells[c]! < 0 ? SEGMENT_COLORS.text : SEGMENT_COLORS.image[cells[c]!]!;
    rects.push(`<rect x="${num(c * cell)}" y="-8" width="${num((e - c) * cell)}" height="6" fill="${color}"/>`);
    rects.push(`<rect x="-8" y="${num(c * cell)}" width="6" height="${num((e - c) * cell)}" fill="${color}"/>`);
    c = e;
  }
  return rects;
}

function segmentRuns(imageIds: Int32Array, cuSeqlens: Int32Array): { begin: number; end: number; image: number }[] {
  const out: { begin: number; end: number; image: number }[] = [];
  for (let q = 0; q + 1 < cuSeqlens.length; q++) {
    for (let t = cuSeqlens[q]!; t < cuSeqlens[q + 1]!; ) {
      let e = t + 1;
      while (e < cuSeqlens[q + 1]! && imageIds[e] === imageIds[t]) e++;
      out.push({ begin: t, end: e, image: imageIds[t]! });
      t = e;
    }
  }
  return out;
}

/**
 * The plan drawn on a grid of panel x panel cells (one per pixel at most): each cell shows the most computed thing
 * in it (full over partial over gathered over skipped), and each grid row becomes a few run-length rects. So the
 * picture's size is bounded by the panel, not by the plan: a 300K-token prompt of 100K images draws as fast as a small
 * one, where a rect per run and per gathered key ran the JS heap out. Gathered ranges of the query blocks that fall
 * in one grid row mostly extend each other (the sinks and text before the block), so only what a block adds to its
 * row is marked: O(rows x keys), not O(blocks x keys).
 */
function rasterRects(b: ReturnType<MaskPlan['blocks']>, cuSeqlens: Int32Array, numTokens: number, panel: number): string[] {
  const G = Math.max(1, Math.min(panel, numTokens));
  const cellOf = (t: number) => Math.min(G - 1, Math.floor((t * G) / numTokens));
  const grid = new Uint8Array(G * G); // 0 outside every sequence, 1 skipped, 2 gathered, 3 partial, 4 full
  const mark = (row0: number, row1: number, col0: number, col1: number, state: number) => {
    for (let r = row0; r <= row1; r++)
      for (let c = col0; c <= col1; c++) if (grid[r * G + c]! < state) grid[r * G + c] = state;
  };
  for (let q = 0; q + 1 < cuSeqlens.length; q++) {
    const a = cellOf(cuSeqlens[q]!), z = cellOf(cuSeqlens[q + 1]! - 1);
    mark(a, z, a, z, 1);
  }
  const marked = new Map<string, number>(); // "row/list/begin" -> end already marked
  const nq = b.queryBlocks.length / 3;
  for (let qb = 0; qb < nq; qb++) {
    const q0 = b.queryBlocks[qb * 3 + 1]!, q1 = b.queryBlocks[qb * 3 + 2]!;
    const row0 = cellOf(q0), row1 = cellOf(q1 - 1);
    for (let r = b.runOffsets[qb]!; r < b.runOffsets[qb + 1]!; r++)
      mark(row0, row1, cellOf(b.runs[r * 3]!), cellOf(b.runs[r * 3 + 1]! - 1), b.runs[r * 3 + 2] === 1 ? 4 : 3);
    for (let g = b.gatherOffsets[qb]!; g < b.gatherOffsets[qb + 1]!; g++) {
      const listId = b.gathers[g * 3]!, begin = b.gathers[g * 3 + 1]!, end = b.gathers[g * 3 + 2]!;
      const list = listId === 0 ? b.sinkTokens : b.sharedTokens;
      const key = `${row0}/${row1}/${listId}/${begin}`;
      const from = Math.max(begin, marked.get(key) ?? begin);
      for (let i = from; i < end; i++) {
        const c = cellOf(list[i]!);
        mark(row0, row1, c, c, 2);
      }
      if (end > from) marked.set(key, end);
    }
  }
  const colors = ['', BLOCK_COLORS.skipped, BLOCK_COLORS.gathered, BLOCK_COLORS.partial, BLOCK_COLORS.full];
  const cell = panel / G;
  const rects: string[] = [];
  for (let r = 0; r < G; r++) {
    for (let c = 0; c < G; ) {
      const state = grid[r * G + c]!;
      let e = c + 1;
      while (e < G && grid[r * G + e] === state) e++;
      if (state) rects.push(`<rect x="${num(c * cell)}" y="${num(r * cell)}" width="${num((e - c) * cell)}" height="${num(cell)}" fill="${colors[state]}"/>`);
      c = e;
    }
  }
  return rects;
}
