/**
 * SVG charts for benchmark sweeps: plain, dependency-free SVG 1.1 that any browser opens. A chart has a log2 x axis
 * (prompt length in tokens), a log10 or linear y axis, one polyline per series and a legend below the plot.
 */
import { background, esc, svgOpen } from '../report/svg_writer.js';

export interface Series {
  label: string;
  color: string;
  dashed?: boolean;
  dotted?: boolean;
  points: [number, number][];
}

export interface Chart {
  title: string;
  xLabel: string;
  yLabel: string;
  logY: boolean;
  series: Series[];
}

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];

function fmtTokens(x: number): string {
  return x >= 1024 ? `${Math.round(x / 1024)}K` : String(x);
}

function fmtNum(y: number): string {
  if (y >= 1000) return `${(y / 1000).toFixed(y >= 10000 ? 0 : 1).replace(/\.0$/, '')}k`;
  if (y >= 1) return String(Number(y.toPrecision(3)));
  return String(Number(y.toPrecision(2)));
}

/** One chart as a <g> of the given size, placed at (x0, y0). */
function chart(c: Chart, x0: number, y0: number, width: number, height: number): string {
  const pts = c.series.flatMap((s) => s.points).filter(([x, y]) => x > 0 && Number.isFinite(y) && (!c.logY || y > 0));
  const legendRows = Math.ceil(c.series.length / 2);
  const m = { left: 62, right: 16, top: 34, bottom: 46 + legendRows * 16 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const out: string[] = [`<g transform="translate(${x0},${y0})">`];
  out.push(`<text x="${width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${esc(c.title)}</text>`);
  if (pts.length === 0) {
    out.push(`<text x="${width / 2}" y="${height / 2}" text-anchor="middle" font-size="12">no data</text></g>`);
    return out.join('\n');
  }
  const lx = (x: number) => Math.log2(x);
  const xs = pts.map(([x]) => lx(x));
  let xmin = Math.floor(Math.min(...xs)), xmax = Math.ceil(Math.max(...xs));
  if (xmax === xmin) (xmin -= 1), (xmax += 1);
  const ty = (y: number) => (c.logY ? Math.log10(y) : y);
  const ys = pts.map(([, y]) => ty(y));
  let ymin = c.logY ? Math.floor(Math.min(...ys)) : 0;
  let ymax = c.logY ? Math.ceil(Math.max(...ys)) : Math.max(...ys) * 1.08;
  if (ymax <= ymin) ymax = ymin + 1;
  const X = (x: number) => m.left + ((lx(x) - xmin) / (xmax - xmin)) * pw;
  const Y = (y: number) => m.top + ph - ((ty(y) - ymin) / (ymax - ymin)) * ph;

  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="#fff" stroke="#444"/>`);
  for (let e = xmin; e <= xmax; e++) {
    const x = m.left + ((e - xmin) / (xmax - xmin)) * pw;
    out.push(`<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + ph}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${x}" y="${m.top + ph + 15}" text-anchor="middle" font-size="11">${fmtTokens(2 ** e)}</text>`);
  }
  const yTicks: number[] = [];
  if (c.logY) {
    for (let e = ymin; e <= ymax; e++) yTicks.push(10 ** e);
  } else {
    const raw = ymax / 5;
    const p = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((k) => k * p).find((s) => s >= raw)!;
    for (let v = 0; v <= ymax + 1e-9; v += step) yTicks.push(v);
  }
  for (const v of yTicks) {
    const y = Y(v);
    out.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${m.left - 6}" y="${y + 4}" text-anchor="end" font-size="11">${fmtNum(v)}</text>`);
  }
  out.push(`<text x="${m.left + pw / 2}" y="${m.top + ph + 32}" text-anchor="middle" font-size="12">${esc(c.xLabel)}</text>`);
  out.push(
    `<text transform="translate(14,${m.top + ph / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(c.yLabel)}</text>`,
  );
  c.series.forEach((s, i) => {
    const p = s.points.filter(([x, y]) => x > 0 && Number.isFinite(y) && (!c.logY || y > 0)).sort((a, b) => a[0] - b[0]);
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : s.dotted ? ' stroke-dasharray="2 3"' : '';
    if (p.length > 1)
      out.push(
        `<polyline fill="none" stroke="${s.color}" stroke-width="${s.dotted ? 1.5 : 2}"${dash} points="${p
          .map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`)
          .join(' ')}"/>`,
      );
    if (!s.dotted)
      for (const [x, y] of p) out.push(`<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="2.8" fill="${s.color}"/>`);
    const lxp = m.left + (i % 2) * (pw / 2);
    const lyp = m.top + ph + 50 + Math.floor(i / 2) * 16;
    out.push(`<line x1="${lxp}" y1="${lyp - 4}" x2="${lxp + 22}" y2="${lyp - 4}" stroke="${s.color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${lxp + 28}" y="${lyp}" font-size="11">${esc(s.label)}</text>`);
  });
  out.push('</g>');
  return out.join('\n');
}

/** Charts side by side in one SVG document. */
export function renderSvg(title: string, subtitle: string, charts: Chart[], chartWidth = 560, chartHeight = 520): string {
  const width = chartWidth * charts.length;
  const height = chartHeight + 40;
  const body = charts.map((c, i) => chart(c, i * chartWidth, 40, chartWidth, chartHeight)).join('\n');
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `${svgOpen(width, height, 'Helvetica, Arial, sans-serif')}\n` +
    `${background('#fafafa')}\n` +
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="16" font-weight="bold">${esc(title)}</text>\n` +
    `<text x="${width / 2}" y="36" text-anchor="middle" font-size="11" fill="#444">${esc(subtitle)}</text>\n` +
    `${body}\n</svg>\n`
  );
}
