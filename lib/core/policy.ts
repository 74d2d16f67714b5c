import { readFile, writeFile } from 'node:fs/promises';
import { HEAD_CATEGORIES, isHeadCategory, type HeadCategory } from './categories.js';
import { BlindsightError, typeError, rangeError, show } from './errors.js';

export const POLICY_FORMAT = 'blindsight-policy';
export const POLICY_VERSION = 1;

/** The JSON form of a policy: small enough to ship next to a model. */
export interface HeadPolicyJSON {
  format: typeof POLICY_FORMAT;
  version: number;
  model?: string;
  numLayers: number;
  numHeads: number;
  /** categories[layer][head] */
  categories: HeadCategory[][];
  /** Free-form extra data (calibration threshold, per-head statistics, provenance); kept on load/save. */
  meta?: Record<string, unknown>;
}

/** A model's head policy: one BlindSight category per (layer, query head), decided once per model. */
export class HeadPolicy {
  readonly model: string | undefined;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly meta: Readonly<Record<string, unknown>>;
  readonly #categories: readonly (readonly HeadCategory[])[];

  constructor(categories: readonly (readonly HeadCategory[])[], options: { model?: string; meta?: Record<string, unknown> } = {}) {
    if (!Array.isArray(categories) || categories.length === 0)
      throw new BlindsightError('BAD_POLICY', 'a policy needs at least one layer of categories');
    const numHeads = Array.isArray(categories[0]) ? categories[0].length : 0;
    if (numHeads === 0) throw new BlindsightError('BAD_POLICY', 'a policy needs at least one head per layer');
    // Index loops, not forEach: holes in sparse arrays are caught, not skipped.
    for (let l = 0; l < categories.length; l++) {
      const row = categories[l];
      if (!Array.isArray(row) || row.length !== numHeads)
        throw new BlindsightError('BAD_POLICY', `layer ${l} has ${Array.isArray(row) ? row.length : 'no'} heads; layer 0 has ${numHeads}`);
      for (let h = 0; h < row.length; h++) {
        const c = row[h];
        if (!isHeadCategory(c))
          throw new BlindsightError('UNKNOWN_CATEGORY', `layer ${l}, head ${h}: unknown category ${show(c)}; expected one of ${HEAD_CATEGORIES.join(', ')}`);
      }
    }
    if (options.model !== undefined && typeof options.model !== 'string') throw typeError('model must be a string');
    this.model = options.model;
    this.numLayers = categories.length;
    this.numHeads = numHeads;
    this.#categories = Object.freeze(categories.map((r) => Object.freeze([...r])));
    this.meta = Object.freeze({ ...(options.meta ?? {}) });
  }

  /** Every head of every layer in one category (e.g. an all-dense baseline). */
  static uniform(numLayers: number, numHeads: number, category: HeadCategory, model?: string): HeadPolicy {
    for (const [n, name] of [[numLayers, 'numLayers'], [numHeads, 'numHeads']] as const)
      if (!Number.isInteger(n) || n < 1) throw rangeError(`${name} must be a positive integer`);
    return new HeadPolicy(Array.from({ length: numLayers }, () => Array<HeadCategory>(numHeads).fill(category)), { model });
  }

  /** The categories of one layer's query heads, as attention() takes them. */
  layer(layer: number): readonly HeadCategory[] {
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.numLayers)
      throw rangeError(`layer must be an integer in [0, ${this.numLayers - 1}], got ${String(layer)}`);
    return this.#categories[layer];
  }

  get(layer: number, head: number): HeadCategory {
    const row = this.layer(layer);
    if (!Number.isInteger(head) || head < 0 || head >= this.numHeads)
      throw rangeError(`head must be an integer in [0, ${this.numHeads - 1}], got ${String(head)}`);
    return row[head];
  }

  /** How many heads use each category. */
  counts(): Record<HeadCategory, number> {
    const out = Object.fromEntries(HEAD_CATEGORIES.map((c) => [c, 0])) as Record<HeadCategory, number>;
    for (const row of this.#categories) for (const c of row) out[c]++;
    return out;
  }

  toJSON(): HeadPolicyJSON {
    const json: HeadPolicyJSON = {
      format: POLICY_FORMAT,
      version: POLICY_VERSION,
      numLayers: this.numLayers,
      numHeads: this.numHeads,
      categories: this.#categories.map((r) => [...r]),
    };
    if (this.model !== undefined) json.model = this.model;
    if (Object.keys(this.meta).length > 0) json.meta = { ...this.meta };
    return json;
  }

  static fromJSON(json: unknown): HeadPolicy {
    if (typeof json !== 'object' || json === null) throw new BlindsightError('BAD_POLICY', 'policy JSON must be an object');
    const j = json as Partial<HeadPolicyJSON>;
    if (j.format !== POLICY_FORMAT) throw new BlindsightError('BAD_POLICY', `not a blindsight policy (format is ${show(j.format)})`);
    if (j.version !== POLICY_VERSION) throw new BlindsightError('BAD_POLICY', `unsupported policy version ${String(j.version)}; this package reads ${POLICY_VERSION}`);
    if (!Array.isArray(j.categories)) throw new BlindsightError('BAD_POLICY', 'policy JSON lacks categories[layer][head]');
    const p = new HeadPolicy(j.categories, { model: j.model, meta: typeof j.meta === 'object' && j.meta !== null ? j.meta : undefined });
    if (j.numLayers !== p.numLayers || j.numHeads !== p.numHeads)
      throw new BlindsightError('BAD_POLICY', `numLayers/numHeads (${j.numLayers}/${j.numHeads}) disagree with categories (${p.numLayers}/${p.numHeads})`);
    return p;
  }

  static parse(text: string): HeadPolicy {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new BlindsightError('BAD_POLICY', `policy is not valid JSON: ${(e as Error).message}`, { cause: e });
    }
    return HeadPolicy.fromJSON(json);
  }

  static async load(path: string): Promise<HeadPolicy> {
    return HeadPolicy.parse(await readFile(path, 'utf8'));
  }

  async save(path: string): Promise<void> {
    await writeFile(path, JSON.stringify(this.toJSON(), null, 2) + '\n');
  }
}
