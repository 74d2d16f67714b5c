import { BlindsightError, typeError, show } from './errors.js';

/** The four BlindSight masks a head can use (README, "Mask semantics"). */
export type HeadCategory = 'dense' | 'sink' | 'intra-image' | 'intra-image+sink';

/** In native code order: the index is the category's numeric code in the addon and the C ABI. */
export const HEAD_CATEGORIES: readonly HeadCategory[] = Object.freeze([
  'dense',
  'sink',
  'intra-image',
  'intra-image+sink',
] as const);

export function isHeadCategory(x: unknown): x is HeadCategory {
  return typeof x === 'string' && (HEAD_CATEGORIES as readonly string[]).includes(x);
}

export function categoryCode(c: unknown, where = 'category'): number {
  const i = typeof c === 'string' ? (HEAD_CATEGORIES as readonly string[]).indexOf(c) : -1;
  if (i < 0)
    throw new BlindsightError(
      'UNKNOWN_CATEGORY',
      `${where}: unknown head category ${show(c)}; expected one of ${HEAD_CATEGORIES.join(', ')}`,
    );
  return i;
}

export function categoryCodes(heads: readonly unknown[], where = 'heads'): Uint8Array {
  if (!Array.isArray(heads)) throw typeError(`${where} must be an array of head categories`);
  const out = new Uint8Array(heads.length);
  // An index loop, not forEach: a hole in a sparse array is an unknown category, not a silent 0 (dense).
  for (let i = 0; i < heads.length; i++) out[i] = categoryCode(heads[i], `${where}[${i}]`);
  return out;
}
