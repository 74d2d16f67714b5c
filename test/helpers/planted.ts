/**
 * Planted heads: post-RoPE Q and K built so that each query head's attention is, by construction, own-image-only,
 * sink-only, own-image plus sinks, or spread over everything. With scale 1 the score is q.k. Key channels:
 *  - channel i: 1 on the non-sink tokens of image i;
 *  - the image-sink channel: 1 on every sink inside an image (image starts; global sinks when an image opens the
 *    sequence);
 *  - the text-sink channel: 1 on every sink that is a text token (global sinks).
 * An image query of image i (length n, after j earlier images in its sequence) on a head planted as
 *    intra-image       has channel i = A: its own non-sink tokens outweigh everything else by e^A;
 *    sink              has both sink channels = A: every sink outweighs everything else;
 *    intra-image+sink  has channel i = A and the image-sink channel = A + ln(n / j): the earlier images' sinks
 *                      together weigh about as much as its own image, so neither intra-image (which drops them) nor
 *                      sink (which drops its own image) keeps 95 %; the first image (j = 0) keeps channel i only;
 *    dense             is zero: uniform over the whole causal row.
 * Small noise on every channel keeps it from being exact.
 */
import { mulberry32, randomNormal } from '../oracle/reference.js';

export type Planted = 'dense' | 'sink' | 'intra-image' | 'intra-image+sink';

export interface PlantedLayout {
  numTokens: number;
  cuSeqlens: Int32Array;
  imageIds: Int32Array;
  sinkFlags: Uint8Array;
  numImages: number;
}

export const PLANT_AMPLITUDE = 12;

export function plantedQk(
  layout: PlantedLayout,
  heads: readonly Planted[],
  numKvHeads: number,
  headDim: number,
  seed: number,
  noise = 0.15,
): { q: Float32Array; k: Float32Array } {
  const numHeads = heads.length;
  const imageSinkChannel = layout.numImages;
  const textSinkChannel = layout.numImages + 1;
  if (headDim < layout.numImages + 2) throw new Error(`headDim ${headDim} too small for ${layout.numImages} images`);
  // Per image: its length and how many images precede it in its sequence.
  const length = new Map<number, number>();
  const earlier = new Map<number, number>();
  for (let s = 0; s + 1 < layout.cuSeqlens.length; s++) {
    let seen = 0;
    for (let t = layout.cuSeqlens[s]!; t < layout.cuSeqlens[s + 1]!; t++) {
      const img = layout.imageIds[t]!;
      if (img < 0) continue;
      if (!length.has(img)) earlier.set(img, seen++);
      length.set(img, (length.get(img) ?? 0) + 1);
    }
  }
  const rng = mulberry32(seed);
  const n = layout.numTokens;
  const q = randomNormal(rng, n * numHeads * headDim, noise);
  // Key noise is scaled down: it is multiplied by the amplitude A in every planted score.
  const k = randomNormal(rng, n * numKvHeads * headDim, noise / 10);
  const A = PLANT_AMPLITUDE;
  for (let t = 0; t < n; t++) {
    const img = layout.imageIds[t]!;
    const sink = layout.sinkFlags[t] === 1;
    for (let g = 0; g < numKvHeads; g++) {
      const base = (t * numKvHeads + g) * headDim;
      if (sink) k[base + (img >= 0 ? imageSinkChannel : textSinkChannel)] += 1;
      else if (img >= 0) k[base + img] += 1;
    }
    if (img < 0) continue;
    const j = earlier.get(img)!;
    heads.forEach((cat, h) => {
      const base = (t * numHeads + h) * headDim;
      if (cat === 'intra-image' || cat === 'intra-image+sink') q[base + img] += A;
      if (cat === 'sink') {
        q[base + imageSinkChannel] += A;
        q[base + textSinkChannel] += A;
      }
      if (cat === 'intra-image+sink' && j > 0) q[base + imageSinkChannel] += A + Math.log(length.get(img)! / j);
    });
  }
  return { q, k };
}
