/**
 * Independent float64 reference for the BlindSight attention-mask semantics.
 *
 * Written straight from the spec, deliberately naive (O(N^2) per head, one
 * key at a time) so that it is easy to audit. It is the oracle that the real
 * mask planner and kernels are checked against; do not "optimise" it.
 *
 * Layout conventions: tokens of all sequences are packed one after another;
 * cuSeqlens[i]..cuSeqlens[i+1] is sequence i (FlashAttention varlen style).
 * Tensors are token-major: q/out [numTokens, numHeads, headDim],
 * k/v [numTokens, numKvHeads, headDim], lse [numTokens, numHeads].
 */

export type Cat = 'dense' | 'sink' | 'intra-image' | 'intra-image+sink';
export const CATS: readonly Cat[] = Object.freeze(['dense', 'sink', 'intra-image', 'intra-image+sink'] as const);

export interface Segment {
  kind: 'text' | 'image';
  length: number;
}

export interface RefLayout {
  numTokens: number;
  cuSeqlens: Int32Array;
  /** image id per token, -1 for text tokens */
  imageIds: Int32Array;
  /** 1 if the token is a sink (first token of an image, or one of the first globalSinks tokens of its sequence) */
  isSink: Uint8Array;
  /** sequence index per token */
  seqOf: Int32Array;
}

export interface RefOptions {
  textKeys: boolean;
  bidirectionalImages: boolean;
  /** null = no window; otherwise an integer >= 1 */
  window: number | null;
  /** sinks stay visible beyond the window (default true); false: a plain sliding window */
  windowKeepsSinks?: boolean;
}

function checkOptions(o: RefOptions): void {
  if (o.window !== null && !(Number.isInteger(o.window) && o.window >= 1)) {
    throw new Error(`window must be null or an integer >= 1, got ${o.window}`);
  }
}

/** Build the per-token layout from per-sequence segment lists. */
export function refLayout(sequences: Segment[][], globalSinks = 1): RefLayout {
  if (!Number.isInteger(globalSinks) || globalSinks < 0) {
    throw new Error(`globalSinks must be an integer >= 0, got ${globalSinks}`);
  }
  let numTokens = 0;
  for (const seq of sequences) {
    for (const seg of seq) {
      if (seg.kind !== 'text' && seg.kind !== 'image') throw new Error(`bad segment kind ${String(seg.kind)}`);
      if (!Number.isInteger(seg.length) || seg.length < 1) throw new Error(`segment length must be a positive integer, got ${seg.length}`);
      numTokens += seg.length;
    }
  }

  const cuSeqlens = new Int32Array(sequences.length + 1);
  const imageIds = new Int32Array(numTokens).fill(-1);
  const isSink = new Uint8Array(numTokens);
  const seqOf = new Int32Array(numTokens);

  let t = 0;
  let nextImageId = 0;
  for (let s = 0; s < sequences.length; s++) {
    const seqStart = t;
    for (const seg of sequences[s]!) {
      const id = seg.kind === 'image' ? nextImageId++ : -1;
      for (let i = 0; i < seg.length; i++) {
        imageIds[t] = id;
        seqOf[t] = s;
        if (id >= 0 && i === 0) isSink[t] = 1; // first token of every image span
        t++;
      }
    }
    const seqEnd = t;
    cuSeqlens[s + 1] = seqEnd;
    const n = Math.min(globalSinks, seqEnd - seqStart); // clip to the sequence length
    for (let i = 0; i < n; i++) isSink[seqStart + i] = 1;
  }
  return { numTokens, cuSeqlens, imageIds, isSink, seqOf };
}

/**
 * Can query token q see key token k under head category cat?
 * (Indices are global token indices into the packed batch. Options are not
 * validated here for speed; refVisiblePairs/refAttention validate them.)
 */
export function refVisible(L: RefLayout, q: number, k: number, cat: Cat, o: RefOptions): boolean {
  // Rule 1: different sequences never see each other.
  if (L.seqOf[q] !== L.seqOf[k]) return false;

  const qImage = L.imageIds[q]!;
  const kImage = L.imageIds[k]!;
  const sameImage = qImage >= 0 && qImage === kImage;
  const kIsSink = L.isSink[k] === 1;

  // Rules 2-3: the base mask.
  let base: boolean;
  if (k <= q) {
    // causal; sliding window hides old keys unless they are sinks (and the window keeps sinks)
    base = o.window === null || q - k < o.window || (kIsSink && o.windowKeepsSinks !== false);
  } else {
    // future keys only via bidirectional images; never affected by the window
    base = o.bidirectionalImages && sameImage;
  }
  if (!base) return false;

  // Rule 4: text queries and dense heads see the whole base mask.
  if (qImage < 0 || cat === 'dense') return true;

  // Rule 5: image query on a sparse head.
  if (k === q) return true;
  if ((cat === 'sink' || cat === 'intra-image+sink') && kIsSink) return true;
  if ((cat === 'intra-image' || cat === 'intra-image+sink') && sameImage) return true;
  if (o.textKeys && kImage < 0) return true;
  return false;
}

/** Number of visible (q, k) pairs, brute force over every pair inside each sequence. */
export function refVisiblePairs(L: RefLayout, cat: Cat, o: RefOptions): number {
  checkOptions(o);
  let count = 0;
  for (let s = 0; s + 1 < L.cuSeqlens.length; s++) {
    const start = L.cuSeqlens[s]!;
    const end = L.cuSeqlens[s + 1]!;
    for (let q = start; q < end; q++) {
      for (let k = start; k < end; k++) {
        if (refVisible(L, q, k, cat, o)) count++;
      }
    }
  }
  return count;
}

/**
 * Plain float64 masked softmax attention. For every (token, head): scores over
 * the visible keys of its own sequence, max-subtracted softmax, weighted sum of V.
 * lse = natural log of sum over visible keys of exp(scaled score).
 *
 * keyRanges (begin, end per sequence) restricts the keys to those ranges: the
 * partial result of a KV shard. A row whose weights sum to zero (no visible key
 * in the range, or only scores of -inf) has out 0 and lse -inf.
 */
export function refAttention(a: {
  q: ArrayLike<number>;
  k: ArrayLike<number>;
  v: ArrayLike<number>;
  layout: RefLayout;
  heads: Cat[];
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  scale?: number;
  options: RefOptions;
  keyRanges?: ArrayLike<number>;
}): { out: Float64Array; lse: Float64Array } {
  const { layout: L, heads, numHeads, numKvHeads, headDim, options } = a;
  const N = L.numTokens;
  checkOptions(options);
  if (heads.length !== numHeads) throw new Error(`heads.length ${heads.length} != numHeads ${numHeads}`);
  if (numKvHeads < 1 || numHeads % numKvHeads !== 0) throw new Error(`numHeads ${numHeads} not a multiple of numKvHeads ${numKvHeads}`);
  if (a.q.length !== N * numHeads * headDim) throw new Error(`q has length ${a.q.length}, expected ${N * numHeads * headDim}`);
  if (a.k.length !== N * numKvHeads * headDim) throw new Error(`k has length ${a.k.length}, expected ${N * numKvHeads * headDim}`);
  if (a.v.length !== N * numKvHeads * headDim) throw new Error(`v has length ${a.v.length}, expected ${N * numKvHeads * headDim}`);

  const scale = a.scale ?? 1 / Math.sqrt(headDim);
  const group = numHeads / numKvHeads;
  const Q = Float64Array.from(a.q);
  const K = Float64Array.from(a.k);
  const V = Float64Array.from(a.v);
  const out = new Float64Array(N * numHeads * headDim);
  const lse = new Float64Array(N * numHeads);

  const keys = new Int32Array(N); // visible key indices for the current (q, h)
  const scores = new Float64Array(N);

  for (let h = 0; h < numHeads; h++) {
    const cat = heads[h]!;
    const kvh = Math.floor(h / group);
    for (let q = 0; q < N; q++) {
      const s = L.seqOf[q]!;
      const start = L.cuSeqlens[s]!;
      const end = L.cuSeqlens[s + 1]!;
      const qOff = (q * numHeads + h) * headDim;

      // scores over visible keys
      let n = 0;
      let max = -Infinity;
      let nan = false;
      const kBegin = a.keyRanges ? a.keyRanges[2 * s]! : start;
      const kEnd = a.keyRanges ? a.keyRanges[2 * s + 1]! : end;
      for (let k = Math.max(start, kBegin); k < Math.min(end, kEnd); k++) {
        if (!refVisible(L, q, k, cat, options)) continue;
        const kOff = (k * numKvHeads + kvh) * headDim;
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += Q[qOff + d]! * K[kOff + d]!;
        const sc = scale * dot;
        keys[n] = k;
        scores[n] = sc;
        n++;
        if (sc > max) max = sc;
        if (sc !== sc) nan = true;
      }
      if (n === 0 && !a.keyRanges) throw new Error(`token ${q} head ${h} sees no key (cannot happen: q always sees itself)`);
      if (max === -Infinity && !nan) {
        lse[q * numHeads + h] = -Infinity; // no weight at all: out stays 0
        continue;
      }

      // max-subtracted softmax
      let sum = 0;
      for (let i = 0; i < n; i++) {
        const p = Math.exp(scores[i]! - max);
        scores[i] = p;
        sum += p;
      }
      lse[q * numHeads + h] = max + Math.log(sum);

      // weighted sum of V
      for (let i = 0; i < n; i++) {
        const p = scores[i]! / sum;
        const vOff = (keys[i]! * numKvHeads + kvh) * headDim;
        for (let d = 0; d < headDim; d++) out[qOff + d] += p * V[vOff + d]!;
      }
    }
  }
  return { out, lse };
}

/** mulberry32 PRNG: deterministic uniform floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randInt(rng: () => number, lo: number, hi: number): number {
  // uniform integer in [lo, hi]
  return lo + Math.floor(rng() * (hi - lo + 1));
}

/**
 * Random varlen batch: 1..maxSeqs non-empty sequences of 1..maxSegments segments.
 * Produces (with decent probability) single-token images, text-only sequences,
 * image-first sequences, adjacent image segments and long images spanning many
 * 64-token blocks. The total token count never exceeds maxTokens (segments are
 * truncated / generation stops when the budget runs out).
 */
export function randomSegments(
  rng: () => number,
  o: { maxSeqs?: number; maxSegments?: number; maxImageLen?: number; maxTextLen?: number; maxTokens?: number } = {},
): Segment[][] {
  const maxSeqs = o.maxSeqs ?? 4;
  const maxSegments = o.maxSegments ?? 6;
  const maxImageLen = o.maxImageLen ?? 300;
  const maxTextLen = o.maxTextLen ?? 40;
  const maxTokens = o.maxTokens ?? 400;
  for (const [name, v] of Object.entries({ maxSeqs, maxSegments, maxImageLen, maxTextLen, maxTokens })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be an integer >= 1, got ${v}`);
  }

  const imageLen = (): number => {
    const r = rng();
    if (r < 0.2) return 1; // single-token image
    if (r < 0.45) return randInt(rng, 1, Math.min(8, maxImageLen)); // tiny
    if (r < 0.75) return randInt(rng, 1, Math.min(80, maxImageLen)); // around a block
    return randInt(rng, Math.max(1, Math.floor(maxImageLen / 2)), maxImageLen); // long, many blocks
  };
  const textLen = (): number => (rng() < 0.5 ? randInt(rng, 1, Math.min(4, maxTextLen)) : randInt(rng, 1, maxTextLen));

  const numSeqs = randInt(rng, 1, maxSeqs);
  const seqs: Segment[][] = [];
  let budget = maxTokens;
  for (let s = 0; s < numSeqs && budget > 0; s++) {
    const textOnly = rng() < 0.15;
    const imageHeavy = !textOnly && rng() < 0.3; // makes adjacent images / image-first common
    const nSeg = randInt(rng, 1, maxSegments);
    const seq: Segment[] = [];
    for (let i = 0; i < nSeg && budget > 0; i++) {
      const isImage = !textOnly && rng() < (imageHeavy ? 0.8 : 0.5);
      const len = Math.min(budget, isImage ? imageLen() : textLen());
      seq.push({ kind: isImage ? 'image' : 'text', length: len });
      budget -= len;
    }
    seqs.push(seq);
  }
  return seqs;
}

/** n samples from N(0, std^2) via Box-Muller. */
export function randomNormal(rng: () => number, n: number, std = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = 1 - rng(); // (0, 1], avoids log(0)
    const u2 = rng();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = std * r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = std * r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/** Relative L2 error ||a - e||_2 / ||e||_2 (absolute ||a||_2 if e is all zeros). */
export function relL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length mismatch: ${actual.length} vs ${expected.length}`);
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = actual[i]! - expected[i]!;
    diff += d * d;
    ref += expected[i]! * expected[i]!;
  }
  if (ref === 0) return Math.sqrt(diff);
  return Math.sqrt(diff / ref);
}
