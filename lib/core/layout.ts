import { BlindsightError, typeError, rangeError, show } from './errors.js';
import { TEMPLATES, type TemplateName, type TokenTemplate } from './templates.js';

export interface Segment {
  kind: 'text' | 'image';
  length: number;
}

export interface LayoutOptions {
  /** The first `globalSinks` tokens of every sequence are sinks (default 1). */
  globalSinks?: number;
}

/** The most tokens a layout holds (2^30; native/core/layout.h says why int32 positions are safe below it). */
export const MAX_TOKENS = 2 ** 30;

/**
 * A packed batch of sequences (FlashAttention varlen style) with every token's kind. Image spans get ids 0, 1, ...
 * in order over the batch; text tokens have image id -1. The first token of every image span is a sink, and so are
 * the first `globalSinks` tokens of each sequence.
 */
export class Layout {
  readonly numTokens: number;
  readonly numSequences: number;
  readonly numImages: number;
  /** Sequence boundaries: sequence s is tokens [cuSeqlens[s], cuSeqlens[s+1]). */
  readonly cuSeqlens: Int32Array;
  /** Per token: the image span id, or -1 for text. */
  readonly imageIds: Int32Array;
  /** Per token: 1 for sinks. */
  readonly sinkFlags: Uint8Array;
  readonly globalSinks: number;

  private constructor(sequences: readonly (readonly Segment[])[], globalSinks: number) {
    let total = 0;
    for (const seq of sequences) for (const s of seq) total += s.length;
    if (total > MAX_TOKENS) throw new BlindsightError('TOO_MANY_TOKENS', `layout has ${total} tokens; at most ${MAX_TOKENS} (2^30)`);
    this.numTokens = total;
    this.numSequences = sequences.length;
    this.globalSinks = globalSinks;
    this.cuSeqlens = new Int32Array(sequences.length + 1);
    this.imageIds = new Int32Array(total).fill(-1);
    this.sinkFlags = new Uint8Array(total);
    let t = 0;
    let image = 0;
    sequences.forEach((seq, s) => {
      const start = t;
      for (const seg of seq) {
        if (seg.kind === 'image') {
          this.imageIds.fill(image++, t, t + seg.length);
          this.sinkFlags[t] = 1;
        }
        t += seg.length;
      }
      this.sinkFlags.fill(1, start, Math.min(t, start + globalSinks));
      this.cuSeqlens[s + 1] = t;
    });
    this.numImages = image;
    Object.freeze(this);
  }

  /**
   * Builds a layout from segment metadata: one array of `{kind, length}` per sequence (a single sequence may also be
   * passed as a flat array of segments).
   */
  static fromSegments(sequences: readonly (readonly Segment[])[] | readonly Segment[], options: LayoutOptions = {}): Layout {
    const globalSinks = checkGlobalSinks(options);
    if (!Array.isArray(sequences) || sequences.length === 0)
      throw new BlindsightError('BAD_SEGMENTS', 'sequences must be a non-empty array of segment arrays');
    const seqs = (isSegmentLike(sequences[0]) ? [sequences] : sequences) as readonly (readonly Segment[])[];
    seqs.forEach((seq, s) => {
      if (!Array.isArray(seq) || seq.length === 0)
        throw new BlindsightError('BAD_SEGMENTS', `sequence ${s} must be a non-empty array of segments`);
      seq.forEach((seg: unknown, i: number) => {
        const where = `sequence ${s}, segment ${i}`;
        if (typeof seg !== 'object' || seg === null)
          throw new BlindsightError('BAD_SEGMENTS', `${where}: expected {kind, length}, got ${String(seg)}`);
        const { kind, length } = seg as Record<string, unknown>;
        if (kind !== 'text' && kind !== 'image')
          throw new BlindsightError('BAD_SEGMENTS', `${where}: kind must be 'text' or 'image', got ${show(kind)}`);
        if (typeof length !== 'number' || !Number.isSafeInteger(length) || length <= 0)
          throw new BlindsightError('BAD_SEGMENTS', `${where}: length must be a positive integer, got ${String(length)}`);
      });
    });
    return new Layout(seqs, globalSinks);
  }

  /**
   * Builds a layout from token ids (one array per sequence, or a single array) and a model template: every span from
   * the template's image-start id through its image-end id is one image.
   */
  static fromTokenIds(
    ids: ArrayLike<number> | readonly ArrayLike<number>[],
    template: TemplateName | TokenTemplate,
    options: LayoutOptions = {},
  ): Layout {
    const tpl = resolveTemplate(template);
    if (!isArrayLike(ids) || ids.length === 0)
      throw new BlindsightError('BAD_TOKEN_IDS', 'ids must be a non-empty array of token ids (or of such arrays)');
    const seqs: ArrayLike<number>[] = isArrayLike(ids[0]) ? (ids as readonly ArrayLike<number>[]).slice() : [ids as ArrayLike<number>];
    const stray = new Set(tpl.imageTokens ?? []);
    const segments = seqs.map((seq, s) => {
      if (!isArrayLike(seq) || seq.length === 0)
        throw new BlindsightError('BAD_TOKEN_IDS', `sequence ${s} must be a non-empty array of token ids`);
      const out: Segment[] = [];
      let spanStart = -1;
      let textStart = 0;
      for (let i = 0; i < seq.length; i++) {
        const id = seq[i];
        if (typeof id !== 'number' || !Number.isInteger(id) || id < 0)
          throw new BlindsightError('BAD_TOKEN_IDS', `sequence ${s}, position ${i}: token id must be a non-negative integer, got ${String(id)}`);
        if (id === tpl.imageStart) {
          if (spanStart >= 0)
            throw new BlindsightError('BAD_TOKEN_IDS', `sequence ${s}, position ${i}: image start inside the image opened at ${spanStart} (${tpl.name})`);
          if (i > textStart) out.push({ kind: 'text', length: i - textStart });
          spanStart = i;
        } else if (id === tpl.imageEnd) {
          if (spanStart < 0)
            throw new BlindsightError('BAD_TOKEN_IDS', `sequence ${s}, position ${i}: image end without an image start (${tpl.name})`);
          out.push({ kind: 'image', length: i - spanStart + 1 });
          spanStart = -1;
          textStart = i + 1;
        } else if (spanStart < 0 && stray.has(id)) {
          throw new BlindsightError('BAD_TOKEN_IDS', `sequence ${s}, position ${i}: image placeholder ${id} outside an image span (${tpl.name})`);
        }
      }
      if (spanStart >= 0)
        throw new BlindsightError('UNTERMINATED_IMAGE', `sequence ${s}: the image opened at position ${spanStart} is never closed (${tpl.name})`);
      if (seq.length > textStart) out.push({ kind: 'text', length: seq.length - textStart });
      return out;
    });
    return Layout.fromSegments(segments, options);
  }

  /** The layout's segments per sequence (text runs merged), e.g. for display. */
  segments(): Segment[][] {
    const out: Segment[][] = [];
    for (let s = 0; s < this.numSequences; s++) {
      const seq: Segment[] = [];
      for (let t = this.cuSeqlens[s]; t < this.cuSeqlens[s + 1]; ) {
        const id = this.imageIds[t];
        let e = t + 1;
        while (e < this.cuSeqlens[s + 1] && this.imageIds[e] === id) e++;
        seq.push({ kind: id < 0 ? 'text' : 'image', length: e - t });
        t = e;
      }
      out.push(seq);
    }
    return out;
  }
}

function checkGlobalSinks(options: LayoutOptions): number {
  if (typeof options !== 'object' || options === null) throw typeError('options must be an object');
  const g = options.globalSinks ?? 1;
  if (typeof g !== 'number' || !Number.isSafeInteger(g) || g < 0)
    throw rangeError(`globalSinks must be a non-negative integer, got ${String(g)}`);
  return g;
}

function resolveTemplate(t: TemplateName | TokenTemplate): TokenTemplate {
  if (typeof t === 'string') {
    // Own properties only: "constructor" or "__proto__" are not templates.
    const tpl = Object.hasOwn(TEMPLATES, t) ? (TEMPLATES as Record<string, TokenTemplate>)[t] : undefined;
    if (!tpl)
      throw new BlindsightError('UNKNOWN_TEMPLATE', `unknown template ${show(t)}; built-in: ${Object.keys(TEMPLATES).join(', ')}`);
    return tpl;
  }
  if (typeof t !== 'object' || t === null || !Number.isInteger(t.imageStart) || !Number.isInteger(t.imageEnd) || t.imageStart === t.imageEnd)
    throw new BlindsightError('UNKNOWN_TEMPLATE', 'a custom template needs distinct integer imageStart and imageEnd ids');
  return { ...t, name: t.name ?? 'custom' };
}

function isArrayLike(x: unknown): x is ArrayLike<unknown> {
  return Array.isArray(x) || (ArrayBuffer.isView(x) && !(x instanceof DataView));
}

function isSegmentLike(x: unknown): boolean {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && 'kind' in x;
}
