/**
 * Independent float64 reference of the attention-mass pass: for every image query and head, the softmax of its dense
 * row (the base mask, refVisible with category 'dense') split into the seven buckets, written straight from the
 * definitions with one key at a time. O(N^2) per head; for small layouts only.
 */
import { refVisible, type RefLayout, type RefOptions } from './reference.js';

export const BUCKETS = ['self', 'ownSink', 'ownOther', 'textSink', 'text', 'imageSink', 'otherImage'] as const;

function bucketOf(L: RefLayout, q: number, k: number): number {
  if (k === q) return 0;
  const own = L.imageIds[k] === L.imageIds[q];
  const sink = L.isSink[k] === 1;
  if (own) return sink ? 1 : 2;
  if (L.imageIds[k]! < 0) return sink ? 3 : 4;
  return sink ? 5 : 6;
}

/** [numTokens, numHeads, 7] fractions; text-query rows are NaN. q/k are the exact values the native pass reads. */
export function refMass(a: {
  q: ArrayLike<number>;
  k: ArrayLike<number>;
  layout: RefLayout;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  scale?: number;
  options: RefOptions;
}): Float64Array {
  const { layout: L, numHeads, numKvHeads, headDim } = a;
  const N = L.numTokens;
  const scale = a.scale ?? 1 / Math.sqrt(headDim);
  const group = numHeads / numKvHeads;
  const out = new Float64Array(N * numHeads * 7).fill(Number.NaN);
  const keys: number[] = [];
  const scores: number[] = [];
  for (let h = 0; h < numHeads; h++) {
    const kvh = Math.floor(h / group);
    for (let q = 0; q < N; q++) {
      if (L.imageIds[q]! < 0) continue;
      const s = L.seqOf[q]!;
      keys.length = 0;
      scores.length = 0;
      let max = -Infinity;
      for (let k = L.cuSeqlens[s]!; k < L.cuSeqlens[s + 1]!; k++) {
        if (!refVisible(L, q, k, 'dense', a.options)) continue;
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += a.q[(q * numHeads + h) * headDim + d]! * a.k[(k * numKvHeads + kvh) * headDim + d]!;
        const sc = scale * dot;
        keys.push(k);
        scores.push(sc);
        if (sc > max) max = sc;
      }
      let total = 0;
      const buckets = [0, 0, 0, 0, 0, 0, 0];
      for (let i = 0; i < keys.length; i++) {
        const p = Math.exp(scores[i]! - max);
        total += p;
        buckets[bucketOf(L, q, keys[i]!)]! += p;
      }
      for (let b = 0; b < 7; b++) out[(q * numHeads + h) * 7 + b] = buckets[b]! / total;
    }
  }
  return out;
}
