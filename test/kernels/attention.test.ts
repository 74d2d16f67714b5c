import { describe, expect, it } from 'vitest';
import { attention, attentionSync, cpuInfo, getThreads, HEAD_CATEGORIES, Layout, MaskPlan, setThreads, type CpuIsa, type HeadCategory } from '../../dist/index.js';
import { mulberry32, randomSegments, refAttention, refLayout, relL2, type RefOptions } from '../oracle/reference.js';
import { poisoned, randomQkv } from '../helpers/tensors.js';

const TOL = 1e-5;
const isas = cpuInfo().isas as CpuIsa[];

interface Case {
  seed: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  options: RefOptions;
  blockM?: number;
  blockN?: number;
  globalSinks?: number;
  maxTokens?: number;
  isa?: CpuIsa;
  std?: number;
  /** Category of head h (default: every category, in a seed-dependent rotation). */
  policy?: (h: number) => HeadCategory;
  maxTextLen?: number;
}

function runCase(c: Case, mode: 'sync' | 'async' = 'sync') {
  const rng = mulberry32(c.seed);
  const segs = randomSegments(rng, { maxTokens: c.maxTokens ?? 320, maxImageLen: 200, maxTextLen: c.maxTextLen });
  const g = c.globalSinks ?? 1;
  const L = Layout.fromSegments(segs, { globalSinks: g });
  const plan = MaskPlan.build(L, { ...c.options, blockM: c.blockM, blockN: c.blockN });
  // Every category appears, in a random order per head.
  const heads: HeadCategory[] = Array.from({ length: c.numHeads }, (_, h) => c.policy?.(h) ?? HEAD_CATEGORIES[(h + c.seed) % 4]);
  const { q, k, v } = randomQkv(c.seed + 1, L.numTokens, c.numHeads, c.numKvHeads, c.headDim, c.std);
  const out = poisoned(q.length);
  const lse = poisoned(L.numTokens * c.numHeads);
  const args = { q, k, v, plan, heads, numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: c.headDim, out, lse, isa: c.isa };
  const ref = refAttention({ q, k, v, layout: refLayout(segs, g), heads, numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: c.headDim, options: c.options });
  const check = () => {
    expect(out.every(Number.isFinite), 'every output element written').toBe(true);
    expect(lse.every(Number.isFinite), 'every lse element written').toBe(true);
    expect(relL2(out, ref.out)).toBeLessThan(TOL);
    expect(relL2(lse, ref.lse)).toBeLessThan(TOL);
  };
  if (mode === 'sync') {
    const r = attentionSync(args);
    expect(r.out).toBe(out);
    check();
    return undefined;
  }
  return attention(args).then((r) => {
    expect(r.lse).toBe(lse);
    check();
  });
}

const OPTIONS: RefOptions[] = [
  { textKeys: true, bidirectionalImages: false, window: null },
  { textKeys: false, bidirectionalImages: false, window: null },
  { textKeys: true, bidirectionalImages: true, window: null },
  { textKeys: false, bidirectionalImages: true, window: 23 },
  { textKeys: true, bidirectionalImages: false, window: 70 },
  // Gemma 3's local layers: a plain window (sinks too are hidden past it), bidirectional images.
  { textKeys: true, bidirectionalImages: true, window: 29, windowKeepsSinks: false },
];

describe.each(isas)('CPU kernel, ISA %s, against the float64 reference', (isa) => {
  it.each([64, 80, 96, 128, 256])('head dim %i, every category and option', (headDim) => {
    OPTIONS.forEach((options, i) => runCase({ seed: headDim * 10 + i, numHeads: 8, numKvHeads: 2, headDim, options, isa, maxTokens: headDim >= 128 ? 200 : 320 }));
  });

  it.each([
    [4, 4],
    [8, 4],
    [8, 2],
    [14, 2],
    [7, 1],
  ])('GQA %i query heads over %i KV heads', (numHeads, numKvHeads) => {
    runCase({ seed: 1000 + numHeads * 7 + numKvHeads, numHeads, numKvHeads, headDim: 64, options: OPTIONS[numHeads % OPTIONS.length], isa });
  });

  it.each([
    [64, 64],
    [16, 16],
    [8, 32],
    [48, 24],
    [128, 64],
    [256, 256],
  ])('block sizes %i x %i and varied global sinks', (blockM, blockN) => {
    for (let i = 0; i < 3; i++)
      runCase({ seed: 2000 + blockM + blockN + i, numHeads: 4, numKvHeads: 2, headDim: 64, options: OPTIONS[i], blockM, blockN, globalSinks: i, isa });
  });

  it('large scores (softmax stability)', () => {
    runCase({ seed: 3001, numHeads: 4, numKvHeads: 1, headDim: 64, options: OPTIONS[0], std: 3, isa });
  });

  // Query blocks shorter than a pass (text between images, image tails, small blockM) run the heads of a KV group
  // that share their plan as one work item, (head, row) pairs in the lanes: same-category heads, and on text blocks
  // heads of any category; image blocks of sparse heads, whole ones too, stack token-major (a pass holds a few tokens
  // x the group's heads). These cases make such stacks of 2 to 8 heads (and groups larger than a stack), with passes
  // that split a head's rows or a token's heads, partial diagonal tiles and window edges inside stacked passes.
  it.each([
    ['one category per layer', (h: number, seed: number) => HEAD_CATEGORIES[seed % 4]],
    ['categories in runs of 3', (h: number, seed: number) => HEAD_CATEGORIES[(Math.floor(h / 3) + seed) % 4]],
    ['random categories', (h: number, seed: number) => HEAD_CATEGORIES[mulberry32(seed * 31 + h)() * 4 | 0]],
  ] as [string, (h: number, seed: number) => HeadCategory][])('stacked query heads: %s', (_, policy) => {
    const shapes: [number, number, number | undefined][] = [
      [14, 2, undefined],
      [12, 1, 16],
      [8, 4, 48],
      [16, 2, 24],
      [7, 1, 128],
    ];
    shapes.forEach(([numHeads, numKvHeads, blockM], i) => {
      for (let j = 0; j < 2; j++) {
        const seed = 4000 + i * 10 + j;
        runCase({ seed, numHeads, numKvHeads, headDim: 64, options: OPTIONS[(i + j) % OPTIONS.length], blockM, isa, maxTextLen: 70, policy: (h) => policy(h, seed) });
      }
    });
  });
});

describe('f32 outputs of 8 MiB and more (written with streaming stores)', () => {
  it.each([256, 72])('match the reference on every ISA, head dim %i', (headDim) => {
    // 1,024 tokens x 32 heads x headDim x 4 bytes >= 8 MiB; many short sequences keep the reference cheap. A row of
    // head dim 256 is whole cache lines; one of 72 (288 bytes) is not, so consecutive rows start at two different
    // offsets in a line and the plain stores at either end of a row see both.
    const segs = Array.from({ length: 16 }, (_, s) => [
      { kind: 'text' as const, length: 5 + s },
      { kind: 'image' as const, length: 40 - s },
      { kind: 'text' as const, length: 19 },
    ]);
    const L = Layout.fromSegments(segs);
    expect(L.numTokens * 32 * headDim * 4).toBeGreaterThanOrEqual(8 << 20);
    const plan = MaskPlan.build(L);
    const heads: HeadCategory[] = Array.from({ length: 32 }, (_, h) => HEAD_CATEGORIES[(h >> 1) % 4]);
    const { q, k, v } = randomQkv(91 + headDim, L.numTokens, 32, 8, headDim);
    const ref = refAttention({ q, k, v, layout: refLayout(segs), heads, numHeads: 32, numKvHeads: 8, headDim, options: OPTIONS[0] });
    for (const isa of isas) {
      const out = poisoned(q.length);
      const lse = poisoned(L.numTokens * 32);
      attentionSync({ q, k, v, plan, heads, numHeads: 32, numKvHeads: 8, headDim, out, lse, isa });
      expect(out.every(Number.isFinite), `${isa}: every output element written`).toBe(true);
      expect(relL2(out, ref.out), isa).toBeLessThan(TOL);
      expect(relL2(lse, ref.lse), isa).toBeLessThan(TOL);
    }
  });
});

describe('attention (async)', () => {
  it('matches the reference and does not block the event loop', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const segs = [[{ kind: 'text' as const, length: 40 }, { kind: 'image' as const, length: 3000 }]];
    const L = Layout.fromSegments(segs);
    const plan = MaskPlan.build(L);
    const { q, k, v } = randomQkv(5, L.numTokens, 8, 8, 128);
    const p = attention({ q, k, v, plan, heads: Array(8).fill('dense'), numHeads: 8, numKvHeads: 8, headDim: 128 });
    await p;
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
    await Promise.all([0, 1, 2].map((i) => runCase({ seed: 4000 + i, numHeads: 4, numKvHeads: 2, headDim: 80, options: OPTIONS[i] }, 'async')));
  });

  it('short calls at once, from the event loop and the worker pool, while the pool is resized, give the rows they give alone', async () => {
    // Micro-batches of a few rows are short jobs for the thread pool (tile masks, the K/V copy, a handful of items):
    // a worker that wakes after the caller took every item must stay out, and none may be lost or run twice.
    const rng = mulberry32(77);
    const segs = randomSegments(rng, { maxTokens: 300, maxImageLen: 120 });
    const L = Layout.fromSegments(segs);
    const plan = MaskPlan.build(L);
    const numHeads = 6, numKvHeads = 2, headDim = 24, n = L.numTokens;
    const heads: HeadCategory[] = Array.from({ length: numHeads }, (_, h) => HEAD_CATEGORIES[h % 4]);
    const { q, k, v } = randomQkv(78, n, numHeads, numKvHeads, headDim);
    const rows = numHeads * headDim;
    const calls = Array.from({ length: 60 }, (_, i) => {
      const b = Math.floor(rng() * n), e = Math.min(n, b + 1 + Math.floor(rng() * 6));
      return { i, b, e, keys: [0, e] as [number, number] };
    });
    const argsOf = (c: (typeof calls)[number], out: Float32Array) => ({
      q: q.subarray(c.b * rows, c.e * rows), k: k.subarray(0, c.e * numKvHeads * headDim), v: v.subarray(0, c.e * numKvHeads * headDim),
      queries: [c.b, c.e] as [number, number], keys: c.keys, plan, heads, numHeads, numKvHeads, headDim, out,
    });
    const alone = calls.map((c) => attentionSync({ ...argsOf(c, poisoned((c.e - c.b) * rows)), threads: 1 }).out);
    const whole = attentionSync({ q, k, v, plan, heads, numHeads, numKvHeads, headDim }).out;
    calls.forEach((c, j) => expect(relL2(alone[j], whole.subarray(c.b * rows, c.e * rows))).toBeLessThan(TOL));
    const before = getThreads();
    try {
      for (const threads of [2, 3, 1, 4]) {
        setThreads(threads);
        const outs = calls.map((c) => poisoned((c.e - c.b) * rows));
        const pending = calls.map((c, j) => (j % 3 === 0 ? Promise.resolve(attentionSync(argsOf(c, outs[j]))) : attention(argsOf(c, outs[j]))));
        if (threads === 3) setThreads(2);  // a resize while calls hold the old pool
        await Promise.all(pending);
        calls.forEach((_, j) => expect(outs[j], `call ${j} on ${threads} threads`).toEqual(alone[j]));
      }
    } finally {
      setThreads(before);
    }
  });

  it('returns lse only when asked and allocates out when not given', async () => {
    const L = Layout.fromSegments([{ kind: 'text', length: 10 }]);
    const plan = MaskPlan.build(L);
    const { q, k, v } = randomQkv(9, 10, 2, 1, 8);
    const r = await attention({ q, k, v, plan, heads: ['dense', 'sink'], numHeads: 2, numKvHeads: 1, headDim: 8 });
    expect(r.lse).toBeUndefined();
    expect(r.out.length).toBe(q.length);
    const r2 = attentionSync({ q, k, v, plan, heads: ['dense', 'sink'], numHeads: 2, numKvHeads: 1, headDim: 8, returnLse: true, threads: 1 });
    expect(r2.lse!.length).toBe(20);
    expect(Array.from(r2.out)).toEqual(Array.from(r.out));
  });
});

describe('the work a call reports (computedPairs)', () => {
  it('lies between the visible pairs and the plan estimate of the visited blocks, per head, for every category', () => {
    for (let seed = 1; seed <= 6; seed++) {
      const segs = randomSegments(mulberry32(9100 + seed), { maxTokens: 400, maxImageLen: 200 });
      const L = Layout.fromSegments(segs);
      const plan = MaskPlan.build(L, OPTIONS[seed % OPTIONS.length]);
      const { q, k, v } = randomQkv(seed, L.numTokens, 4, 2, 64);
      for (const category of HEAD_CATEGORIES) {
        const heads = Array<HeadCategory>(4).fill(category);
        const st = plan.stats(heads).perCategory.find((c) => c.category === category)!;
        const r = attentionSync({ q, k, v, plan, heads, numHeads: 4, numKvHeads: 2, headDim: 64 });
        expect(r.computedPairs).toBeGreaterThanOrEqual(st.visiblePairs);
        expect(r.computedPairs).toBeLessThanOrEqual(4 * st.computedPairs);
      }
    }
  });
});
