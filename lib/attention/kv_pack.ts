/**
 * The CPU kernel's copy of one KV cache, kept from call to call. The kernel reads each KV head's keys as one contiguous
 * run, so a token-major cache of several KV heads ([tokens, numKvHeads, headDim], the default layout) is copied
 * head-major on every call, every key row the call visits. A prompt prefilled in micro-batches against its growing
 * cache then copies the cache so far again and again (text queries see all of it). Given a KvPack, calls copy each
 * key row once, when one first visits it, and read the kept copy after that.
 *
 * The promise a caller makes: while a pack holds a token's rows, that token's k and v rows do not change — one pack
 * per layer of one prompt, whose cache only grows. `reset()` when the cache is rewritten (a new prompt); a pack given
 * rows that differ from those it kept (another layer's cache, say) fails with KV_PACK_STALE: every call compares four
 * of the kept rows it reads with the caller's. K and V read in place — one layout for both with each head's rows
 * contiguous: a head-major cache (strides with token = headDim), or a single KV head — need no pack (the pack is then
 * left alone). CPU backend only; calls with one pack run one at a time, and `bytes` / `keptRows` are what the last
 * finished call left. The copy takes 2 × tokens × numKvHeads × headDim elements of the input type until `dispose()`
 * (or garbage collection) releases it.
 */
import { BlindsightError } from '../core/errors.js';
import { native, type NativeKvPackHandle } from '../core/native.js';

export class KvPack {
  #handle: NativeKvPackHandle | undefined;

  constructor() {
    this.#handle = new (native().NativeKvPack)();
  }

  /** @internal The native pack, for attention calls. */
  get handle(): NativeKvPackHandle {
    if (!this.#handle) throw new BlindsightError('DISPOSED', 'the KvPack was disposed');
    return this.#handle;
  }

  /** Drops the kept rows (the cache was rewritten); calls already running finish with the rows they had. */
  reset(): void {
    this.handle.reset();
  }

  /** Releases the copy now (calls already running keep it until they finish); the pack cannot be used after. */
  dispose(): void {
    this.#handle?.dispose();
    this.#handle = undefined;
  }

  /** Bytes of the copy (K and V), 0 before the first call that uses it. */
  get bytes(): number {
    return this.#handle ? this.#handle.info().bytes : 0;
  }

  /** Key tokens whose rows the pack holds. */
  get keptRows(): number {
    return this.#handle ? this.#handle.info().keptRows : 0;
  }
}
