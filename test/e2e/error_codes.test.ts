/**
 * One registry of error codes (native/core/error_codes.h), and the same code for the same mistake at every door: the
 * TypeScript API, the addon called directly (as a runtime that skips the TS layer would), and the C ABI.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BlindsightError, DTYPES, HEAD_CATEGORIES, Layout, MaskPlan, attentionSync, type HeadCategory } from '../../dist/index.js';
import { ERROR_CODES } from '../../dist/core/error_codes.js';
import { native } from '../../dist/core/native.js';
import { buildLibblindsight, compileC, repoRoot, which } from '../helpers/toolchain.js';

describe('the error-code registry', () => {
  it('lib/core/error_codes.ts and the README table are generated from native/core/error_codes.h', () => {
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts/error-codes.mjs'), '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('every code maps to a C ABI status', () => {
    for (const [code, { status }] of Object.entries(ERROR_CODES)) expect(status, code).toMatch(/^BLINDSIGHT_ERR_[A-Z_]+$/);
    expect(Object.keys(ERROR_CODES).length).toBeGreaterThan(30);
  });
});

/** A bad-input case: fields of a small valid problem changed so that exactly one thing is wrong. */
interface Case {
  name: string;
  set: Record<string, number | string>;
  code: string;
}
const CASES: Case[] = [
  { name: 'head dim not a multiple of 8', set: { headDim: 12 }, code: 'BAD_HEAD_DIM' },
  { name: 'head dim above 512', set: { headDim: 520 }, code: 'BAD_HEAD_DIM' },
  { name: 'no query heads', set: { numHeads: 0 }, code: 'BAD_HEAD_COUNT' },
  { name: 'too many KV heads', set: { numKvHeads: 70000, numHeads: 70000 }, code: 'BAD_HEAD_COUNT' },
  { name: 'query heads not a multiple of KV heads', set: { numHeads: 6, numKvHeads: 4 }, code: 'BAD_GQA' },
  { name: 'unknown category', set: { category: 7 }, code: 'UNKNOWN_CATEGORY' },
  { name: 'unknown input type', set: { dtype: 5 }, code: 'UNSUPPORTED_DTYPE' },
  { name: 'unknown output type', set: { outDtype: 5 }, code: 'UNSUPPORTED_DTYPE' },
  { name: 'unknown ISA level', set: { isa: 'avx9000' }, code: 'UNSUPPORTED_ISA' },
  { name: 'block size not a multiple of 8', set: { blockM: 12 }, code: 'BAD_BLOCK_SIZE' },
  { name: 'negative window', set: { window: -3 }, code: 'BAD_WINDOW' },
  { name: 'scale not a number', set: { scale: 'nan' }, code: 'BAD_ARGUMENT' },
  { name: 'negative threads', set: { threads: -1 }, code: 'BAD_ARGUMENT' },
  { name: 'output aliasing q', set: { aliasOut: 1 }, code: 'ALIASED_OUTPUT' },
  { name: 'the valid problem itself', set: {}, code: 'OK' },
];

const SEGMENTS = [{ kind: 'text', length: 8 }, { kind: 'image', length: 16 }, { kind: 'text', length: 8 }] as const;

function problem(set: Case['set']) {
  const p = { headDim: 16, numHeads: 4, numKvHeads: 2, category: 0, dtype: 0, outDtype: 0, blockM: 64, window: 0, threads: 0, aliasOut: 0, scale: 0.25 as number | string, isa: undefined as string | undefined, ...set };
  const size = (x: number, lo: number, hi: number) => (x >= lo && x <= hi ? x : 1);
  const n = 32;
  const q = new Float32Array(n * size(p.numHeads, 1, 65536) * size(p.headDim, 1, 4096));
  const kv = new Float32Array(n * size(p.numKvHeads, 1, 65536) * size(p.headDim, 1, 4096));
  return { ...p, scale: p.scale === 'nan' ? Number.NaN : (p.scale as number), n, q, kv, out: p.aliasOut ? q : new Float32Array(q.length) };
}

// The TS API throws BlindsightError, TypeError or RangeError; the addon throws plain Errors; all of them carry `code`.
function codeOf(f: () => unknown, typed = true): string {
  try {
    f();
    return 'OK';
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typed) expect(e instanceof BlindsightError || e instanceof TypeError || e instanceof RangeError, String(e)).toBe(true);
    return typeof code === 'string' ? code : `uncoded ${String(e)}`;
  }
}

function viaTypeScript(c: Case): string {
  const p = problem(c.set);
  return codeOf(() => {
    const plan = MaskPlan.build(Layout.fromSegments([...SEGMENTS]), { blockM: p.blockM, window: p.window === 0 ? null : p.window });
    const category = (HEAD_CATEGORIES[p.category] ?? `category-${p.category}`) as HeadCategory;
    attentionSync({
      q: p.q, k: p.kv, v: p.kv, out: p.out, plan, heads: Array(Math.max(0, Math.min(p.numHeads, 70000))).fill(category),
      numHeads: p.numHeads, numKvHeads: p.numKvHeads, headDim: p.headDim, scale: p.scale,
      dtype: (DTYPES[p.dtype] ?? 'f64') as 'f32', outDtype: (DTYPES[p.outDtype] ?? 'f64') as 'f32',
      threads: p.threads === 0 ? undefined : p.threads, isa: p.isa as 'generic' | undefined, backend: 'cpu',
    });
  });
}

function viaAddon(c: Case): string {
  const p = problem(c.set);
  const addon = native();
  return codeOf(() => {
    const L = Layout.fromSegments([...SEGMENTS]);
    const layout = new addon.NativeLayout({ cuSeqlens: L.cuSeqlens, imageIds: L.imageIds, sinkFlags: L.sinkFlags });
    const plan = new addon.NativePlan(layout, { blockM: p.blockM, blockN: 64, window: p.window, textKeys: true, bidirectionalImages: false, exhaustive: false });
    const heads = new Uint8Array(Math.max(0, Math.min(p.numHeads, 70000))).fill(p.category);
    addon.attentionSync({
      plan, q: p.q, k: p.kv, v: p.kv, out: p.out, returnLse: false, heads, numHeads: p.numHeads, numKvHeads: p.numKvHeads,
      headDim: p.headDim, scale: p.scale, inputDtype: p.dtype, outputDtype: p.outDtype, threads: p.threads, isa: p.isa ?? null,
    });
  }, false);
}

const haveC = Boolean(which('cmake') && which('cc'));
let driver = '';

describe('the same mistake gets the same code through TS, the addon and the C ABI', () => {
  beforeAll(() => {
    if (!haveC) return;
    buildLibblindsight();
    driver = compileC('test/e2e/capi/capi_check.c', 'capi_check_codes');
  }, 600_000);

  it.each(CASES)('$name: $code', (c) => {
    expect(viaTypeScript(c), 'TypeScript API').toBe(c.code);
    expect(viaAddon(c), 'addon').toBe(c.code);
    if (haveC) {
      const args = Object.entries(c.set).map(([k, v]) => `${k}=${v}`);
      const r = spawnSync(driver, ['case', ...args], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.trim(), 'C ABI').toBe(c.code);
    }
  });
});
