import type { HeadCategory } from '../core/categories.js';
import { HEAD_CATEGORIES } from '../core/categories.js';
import type { Segment } from '../core/layout.js';

export interface PromptShape {
  images: number;
  tokensPerImage: number;
  /** Text tokens before the first image (system prompt) and between images. */
  leadingText: number;
  textBetween: number;
}

/** One prompt: leading text, then `images` x (image, text). */
export function promptSegments(s: PromptShape): Segment[] {
  const segs: Segment[] = [];
  if (s.leadingText > 0) segs.push({ kind: 'text', length: s.leadingText });
  for (let i = 0; i < s.images; i++) {
    segs.push({ kind: 'image', length: s.tokensPerImage });
    if (s.textBetween > 0) segs.push({ kind: 'text', length: s.textBetween });
  }
  return segs;
}

/**
 * An example policy, not a calibrated one: query heads cycle through the four categories, so every KV group holds a
 * mix (as calibrated policies do).
 */
export function examplePolicy(numHeads: number): HeadCategory[] {
  return Array.from({ length: numHeads }, (_, h) => HEAD_CATEGORIES[h % HEAD_CATEGORIES.length]);
}

/** Deterministic pseudo-random fill in [-1, 1), cheap enough for 100M-element tensors. */
export function fillRandom(a: Float32Array, seed: number): Float32Array {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < a.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    a[i] = (x >>> 0) / 2147483648 - 1;
  }
  return a;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Runs each task `repeats` times, round by round (every task once, then again), and returns each task's times in
 * milliseconds. Interleaving puts a slow spell of a shared machine on every task alike, so ratios between tasks (sparse
 * over dense) compare runs of the same rounds. `before` is called ahead of each run (for progress notes).
 */
export function timeRounds(tasks: (() => void)[], repeats: number, before?: (task: number, round: number) => void): number[][] {
  const ms = tasks.map((): number[] => []);
  for (let r = 0; r < repeats; r++)
    for (const [i, run] of tasks.entries()) {
      before?.(i, r);
      const t = performance.now();
      run();
      ms[i].push(performance.now() - t);
    }
  return ms;
}

/** Prints a table with a rule under its header: the first `leftColumns` columns left-aligned, the rest right-aligned. */
export function printTable(table: string[][], leftColumns = 1): void {
  const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
  for (const [i, r] of table.entries()) {
    console.log(r.map((cell, c) => (c < leftColumns ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}
