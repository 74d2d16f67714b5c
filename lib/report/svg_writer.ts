/**
 * What the package's SVG pictures share (the policy and plan pictures in svg.ts, the benchmark's charts in
 * lib/bench/svg_plot.ts): escaping text for SVG and the document's opening tags. Plain strings, no dependencies.
 */

/** Escapes text for SVG element content and double-quoted attribute values. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The root element's opening tag: a width x height user-unit canvas in the given font family. */
export function svgOpen(width: number, height: number, fontFamily: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${esc(fontFamily)}">`;
}

/** A rectangle covering the whole canvas. */
export function background(fill: string): string {
  return `<rect width="100%" height="100%" fill="${fill}"/>`;
}
