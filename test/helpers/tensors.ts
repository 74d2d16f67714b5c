import { mulberry32, randomNormal } from '../oracle/reference.js';

/** Fresh random q/k/v for a layout and head shape. */
export function randomQkv(seed: number, numTokens: number, numHeads: number, numKvHeads: number, headDim: number, std = 1) {
  const rng = mulberry32(seed);
  return {
    q: randomNormal(rng, numTokens * numHeads * headDim, std),
    k: randomNormal(rng, numTokens * numKvHeads * headDim, std),
    v: randomNormal(rng, numTokens * numKvHeads * headDim),
  };
}

/** An output buffer full of NaN, so any element a kernel fails to write shows up in the comparison. */
export function poisoned(n: number): Float32Array {
  return new Float32Array(n).fill(Number.NaN);
}
