/**
 * The CUDA backend. On a machine with a usable GPU: the randomized float64 reference comparisons of the CPU suite, on
 * every element type path. Everywhere: backend selection and its errors, and, when the CUDA module is built
 * (`npm run build:cuda`), that it loads without a GPU, and that the launch schedule and the kernel's plan walk (host-
 * compiled from the same source) give every CTA the right rows and exactly the plan's keys.
 * BLINDSIGHT_EXPECT_CUDA_ADDON=1 (CI after build:cuda) turns a missing or unloadable module into a failure.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  attention,
  attentionSync,
  BlindsightError,
  HEAD_CATEGORIES,
  Layout,
  listBackends,
  MaskPlan,
  type CudaBackendInfo,
  type HeadCategory,
} from '../../dist/index.js';
import { cudaModule } from '../../dist/backends/cuda.js';
import { cudaAttentionRaw, cudaEmulateRaw } from '../../dist/backends/cuda_calls.js';
import { fromDType, toDType } from '../../dist/core/dtype.js';
import { mulberry32, randomSegments, refAttention, refLayout, relL2, type RefOptions } from '../oracle/reference.js';
import { poisoned, randomQkv } from '../helpers/tensors.js';

const cuda = listBackends().find((b): b is CudaBackendInfo => b.name === 'cuda')!;
const gpu = cuda.available;
const module = cudaModule();
const expectModule = process.env.BLINDSIGHT_EXPECT_CUDA_ADDON === '1';

const OPTIONS: RefOptions[] = [
  { textKeys: true, bidirectionalImages: false, window: null },
  { textKeys: false, bidirectionalImages: false, window: null },
  { textKeys: true, bidirectionalImages: true, window: null },
  { textKeys: false, bidirectionalImages: true, window: 23 },
  { textKeys: true, bidirectionalImages: false, window: 70 },
];

const small = Layout.fromSegments([[{ kind: 'text', length: 7 }, { kind: 'image', length: 9 }]]);
const smallPlan = MaskPlan.build(small);
const smallQkv = randomQkv(3, small.numTokens, 4, 2, 64);
const smallArgs = { ...smallQkv, plan: smallPlan, heads: [...HEAD_CATEGORIES], numHeads: 4, numKvHeads: 2, headDim: 64 };

afterEach(() => {
  delete process.env.BLINDSIGHT_BACKEND;
});

describe('backend selection', () => {
  it('listBackends says which backends run here, and why not', () => {
    const backends = listBackends();
    expect(backends.map((b) => b.name)).toEqual(['cpu', 'cuda']);
    expect(backends[0].available).toBe(true);
    if (!cuda.available) {
      expect(typeof cuda.reason).toBe('string');
      expect(cuda.reason!.length).toBeGreaterThan(10);
    } else {
      expect(cuda.device?.computeCapability).toBeGreaterThanOrEqual(80);
    }
  });

  it.skipIf(gpu)("backend 'cuda' without a usable GPU is CUDA_UNAVAILABLE and says why", async () => {
    expect(() => attentionSync({ ...smallArgs, backend: 'cuda' })).toThrow(
      expect.objectContaining({ name: 'BlindsightError', code: 'CUDA_UNAVAILABLE', message: expect.stringContaining(cuda.reason!) }),
    );
    await expect(attention({ ...smallArgs, backend: 'cuda' })).rejects.toMatchObject({ code: 'CUDA_UNAVAILABLE' });
    process.env.BLINDSIGHT_BACKEND = 'cuda';
    expect(() => attentionSync(smallArgs)).toThrow(expect.objectContaining({ code: 'CUDA_UNAVAILABLE' }));
  });

  it.skipIf(gpu)("'auto' (the default) falls back to the CPU", () => {
    const cpu = attentionSync({ ...smallArgs, backend: 'cpu', returnLse: true });
    for (const backend of ['auto', undefined] as const) {
      const r = attentionSync({ ...smallArgs, backend, returnLse: true });
      expect(Array.from(r.out)).toEqual(Array.from(cpu.out));
      expect(Array.from(r.lse!)).toEqual(Array.from(cpu.lse!));
    }
  });

  it('rejects unknown backends and contradictory options before native work', () => {
    expect(() => attentionSync({ ...smallArgs, backend: 'gpu' as never })).toThrow(expect.objectContaining({ code: 'BAD_BACKEND' }));
    expect(() => attentionSync({ ...smallArgs, backend: 1 as never })).toThrow(TypeError);
    expect(() => attentionSync({ ...smallArgs, backend: 'cuda', isa: 'generic' })).toThrow(expect.objectContaining({ code: 'BAD_OPTION' }));
    process.env.BLINDSIGHT_BACKEND = 'tpu';
    expect(() => attentionSync(smallArgs)).toThrow(expect.objectContaining({ code: 'BAD_BACKEND' }));
    process.env.BLINDSIGHT_BACKEND = 'cpu';
    expect(() => attentionSync(smallArgs)).not.toThrow();
  });

  it.runIf(gpu)("a head dim without a CUDA kernel: 'cuda' is UNSUPPORTED_HEAD_DIM, 'auto' runs on the CPU", () => {
    const q = randomQkv(4, small.numTokens, 4, 2, 32);
    const args = { ...q, plan: smallPlan, heads: [...HEAD_CATEGORIES], numHeads: 4, numKvHeads: 2, headDim: 32 };
    expect(() => attentionSync({ ...args, backend: 'cuda' })).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_HEAD_DIM' }));
    expect(() => attentionSync({ ...args, backend: 'auto' })).not.toThrow();
  });
});

describe.runIf(module.addon !== null || expectModule)('the CUDA module (npm run build:cuda)', () => {
  const loaded = () => {
    if (!module.addon) throw new Error(`CUDA module missing: ${module.reason}`);
    return module;
  };

  it('loads on this machine and describes its build', () => {
    const m = loaded();
    expect(m.info.compiled).toBe(true);
    expect(m.info.runtimeVersion).toBeGreaterThanOrEqual(11000);
    expect(m.info.builtArchs.length).toBeGreaterThan(0);
    expect(m.info.headDims).toEqual([64, 80, 96, 128, 256]);
    expect(m.info.available).toBe(gpu);
    if (!gpu) expect(m.info.reason).toBe(cuda.reason);
  });

  it.skipIf(gpu)('its native entry point refuses with CUDA_UNAVAILABLE when there is no device', () => {
    const { addon } = loaded();
    const plan = new addon.NativePlan(new addon.NativeLayout({ cuSeqlens: small.cuSeqlens, imageIds: small.imageIds, sinkFlags: small.sinkFlags }), { blockM: 64, blockN: 64, window: 0, textKeys: true, bidirectionalImages: false, exhaustive: false });
    const out = new Float32Array(smallQkv.q.length);
    const heads = new Uint8Array([0, 1, 2, 3]);
    expect(() =>
      addon.attentionSync({ plan, q: smallQkv.q, k: smallQkv.k, v: smallQkv.v, out, returnLse: false, heads, numHeads: 4, numKvHeads: 2, headDim: 64, scale: 0.125, inputDtype: 0, outputDtype: 0 }),
    ).toThrow(
      expect.objectContaining({ code: 'CUDA_UNAVAILABLE' }),
    );
  });

  // For each CTA of a launch: the rows and head it computes, and the key tiles the kernel's walk visits, compared with
  // the plan the CPU backend uses (MaskPlan.blocks).
  it.each([
    [64, 64],
    [64, 32],
    [32, 32],
    [32, 16],
  ])('schedule and plan walk, %i rows x %i keys per tile', (rowsPerCta, keysPerTile) => {
    const { addon } = loaded();
    for (let seed = 1; seed <= 12; seed++) {
      const rng = mulberry32(7000 + seed);
      const segs = randomSegments(rng, { maxTokens: 700, maxImageLen: 260 });
      const L = Layout.fromSegments(segs, { globalSinks: seed % 3 });
      const blockM = [64, 128, 16, 48][seed % 4];
      const blockN = [64, 32, 128, 24][(seed >> 2) % 4];
      const o = OPTIONS[seed % OPTIONS.length];
      const plan = MaskPlan.build(L, { ...o, blockM, blockN, exhaustive: seed === 5 });
      const numKvHeads = 1 + (seed % 3);
      const numHeads = numKvHeads * (1 + (seed % 4));
      const heads: HeadCategory[] = Array.from({ length: numHeads }, (_, h) => HEAD_CATEGORIES[(h * 7 + seed) % 4]);
      const codes = new Uint8Array(heads.map((c) => HEAD_CATEGORIES.indexOf(c)));
      const handle = new addon.NativePlan(new addon.NativeLayout({ cuSeqlens: L.cuSeqlens, imageIds: L.imageIds, sinkFlags: L.sinkFlags }), { blockM, blockN, window: o.window ?? 0, textKeys: o.textKeys, bidirectionalImages: o.bidirectionalImages, exhaustive: seed === 5 });
      const { items, tiles } = addon.inspect({ plan: handle, heads: codes, numKvHeads, rowsPerCta, keysPerTile });
      checkLaunch(plan, heads, numHeads, numKvHeads, rowsPerCta, keysPerTile, items, tiles);
    }
  });
});

function checkLaunch(
  plan: MaskPlan,
  heads: HeadCategory[],
  numHeads: number,
  numKvHeads: number,
  rowsPerCta: number,
  keysPerTile: number,
  items: Int32Array,
  tiles: Int32Array,
) {
  const blocks = HEAD_CATEGORIES.map((c) => plan.blocks(c));
  const qb = blocks[0].queryBlocks;
  const numBlocks = qb.length / 3;
  // The keys the plan lists for (category, query block), in the order the kernel visits them, and their total.
  const expectedKeys = (c: number, b: number): number[] => {
    const p = blocks[c];
    const keys: number[] = [];
    for (let r = p.runOffsets[b]; r < p.runOffsets[b + 1]; r++) for (let t = p.runs[3 * r]; t < p.runs[3 * r + 1]; t++) keys.push(t);
    for (let g = p.gatherOffsets[b]; g < p.gatherOffsets[b + 1]; g++) {
      const list = p.gathers[3 * g] === 0 ? p.sinkTokens : p.sharedTokens;
      for (let i = p.gathers[3 * g + 1]; i < p.gathers[3 * g + 2]; i++) keys.push(list[i]);
    }
    return keys;
  };

  // The schedule's cost model (native/core/plan_cost.h), with every run and gathered range cut into 64-key tiles.
  const estimatedCost = (rows: number, keys: number, tiles: number) => rows * (keys + 8 * tiles + 16);
  const costTiles = (c: number, b: number): number => {
    const p = blocks[c];
    let n = 0;
    for (let r = p.runOffsets[b]; r < p.runOffsets[b + 1]; r++) n += Math.ceil((p.runs[3 * r + 1] - p.runs[3 * r]) / 64);
    for (let g = p.gatherOffsets[b]; g < p.gatherOffsets[b + 1]; g++) n += Math.ceil((p.gathers[3 * g + 2] - p.gathers[3 * g + 1]) / 64);
    return n;
  };

  const F = 9;
  const numItems = items.length / F;
  const seen = new Set<string>();
  const rowsCovered = new Map<string, number>();
  let lastCost = Infinity;
  for (let i = 0; i < numItems; i++) {
    const [chunk, head, block, rowBegin, rows, kvHead, category, firstTile, endTile] = items.subarray(i * F, i * F + F);
    const key = `${chunk}/${head}`;
    expect(seen.has(key), `item ${key} scheduled twice`).toBe(false);
    seen.add(key);
    expect(kvHead).toBe(Math.floor(head / (numHeads / numKvHeads)));
    expect(category).toBe(HEAD_CATEGORIES.indexOf(heads[head]));
    const [, qBegin, qEnd] = qb.subarray(3 * block, 3 * block + 3);
    expect(rows).toBeGreaterThan(0);
    expect(rows).toBeLessThanOrEqual(rowsPerCta);
    expect(rowBegin).toBeGreaterThanOrEqual(qBegin);
    expect(rowBegin + rows).toBeLessThanOrEqual(qEnd);
    expect((rowBegin - qBegin) % rowsPerCta).toBe(0);
    const rk = `${block}/${head}`;
    rowsCovered.set(rk, (rowsCovered.get(rk) ?? 0) + rows);

    const want = expectedKeys(category, block);
    const cost = estimatedCost(rows, want.length, costTiles(category, block));
    expect(cost, 'heavier work items first').toBeLessThanOrEqual(lastCost);
    lastCost = cost;
    const got: number[] = [];
    const runs = blocks[category];
    let r = runs.runOffsets[block];
    for (let t = firstTile; t < endTile; t++) {
      const [list, begin, count, full] = tiles.subarray(4 * t, 4 * t + 4);
      expect(count).toBeGreaterThan(0);
      expect(count).toBeLessThanOrEqual(keysPerTile);
      if (list < 0) {
        while (begin >= runs.runs[3 * r + 1]) r++; // the run this tile belongs to
        expect(begin).toBeGreaterThanOrEqual(runs.runs[3 * r]);
        expect((begin - runs.runs[3 * r]) % keysPerTile).toBe(0);
        expect(begin + count).toBeLessThanOrEqual(runs.runs[3 * r + 1]);
        expect(full).toBe(runs.runs[3 * r + 2]);
        for (let j = 0; j < count; j++) got.push(begin + j);
      } else {
        expect(full).toBe(0);
        const src = list === 0 ? runs.sinkTokens : runs.sharedTokens;
        for (let j = 0; j < count; j++) got.push(src[begin + j]);
      }
    }
    expect(got).toEqual(want);
  }
  expect(numItems).toBe(seen.size);
  for (let b = 0; b < numBlocks; b++)
    for (let h = 0; h < numHeads; h++) expect(rowsCovered.get(`${b}/${h}`), `rows of block ${b} head ${h}`).toBe(qb[3 * b + 2] - qb[3 * b + 1]);
}

// ---- On a GPU: the same randomized reference comparisons as the CPU suite, on every element type path ----

type Path = { input: 'f32' | 'f16' | 'bf16'; output: 'f32' | 'f16' | 'bf16'; tol: number; lseTol: number };
const PATHS: Path[] = [
  { input: 'f32', output: 'f32', tol: 1e-5, lseTol: 1e-5 },
  { input: 'bf16', output: 'f32', tol: 1e-2, lseTol: 1e-4 },
  { input: 'f16', output: 'f32', tol: 2e-3, lseTol: 1e-4 },
  { input: 'bf16', output: 'bf16', tol: 1.2e-2, lseTol: 1e-4 },
  { input: 'f16', output: 'f16', tol: 3e-3, lseTol: 1e-4 },
];

interface GpuCase {
  seed: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  options: RefOptions;
  path: Path;
  blockM?: number;
  blockN?: number;
  globalSinks?: number;
  maxTokens?: number;
  std?: number;
}

const encode = (x: Float32Array, t: 'f16' | 'bf16') => toDType(x, t);
const decode = (x: Uint16Array, t: 'f16' | 'bf16') => fromDType(x, t);

// engine 'gpu': the CUDA backend on the device. 'emulator': the same kernels' device code run on the CPU under the CTA
// emulator (native/cuda/emulation/), which needs only the CUDA module.
function gpuCase(c: GpuCase, engine: 'gpu' | 'emulator' | 'emulator, copies at wait' = 'gpu') {
  const rng = mulberry32(c.seed);
  const segs = randomSegments(rng, { maxTokens: c.maxTokens ?? 320, maxImageLen: 200 });
  const g = c.globalSinks ?? 1;
  const L = Layout.fromSegments(segs, { globalSinks: g });
  const plan = MaskPlan.build(L, { ...c.options, blockM: c.blockM, blockN: c.blockN });
  const heads: HeadCategory[] = Array.from({ length: c.numHeads }, (_, h) => HEAD_CATEGORIES[(h + c.seed) % 4]);
  const raw = randomQkv(c.seed + 1, L.numTokens, c.numHeads, c.numKvHeads, c.headDim, c.std);
  const lse = poisoned(L.numTokens * c.numHeads);
  const shape = { plan, heads, numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: c.headDim };
  let q = raw.q, k = raw.k, v = raw.v; // what the GPU really sees (rounded for 16-bit inputs)
  let out: Float32Array;
  if (engine === 'gpu' && c.path.input === 'f32' && c.path.output === 'f32') {
    out = poisoned(q.length);
    attentionSync({ ...raw, ...shape, out, lse, backend: 'cuda' });
  } else {
    const t = c.path.input === 'f32' ? null : c.path.input;
    const qi = t ? encode(raw.q, t) : raw.q, ki = t ? encode(raw.k, t) : raw.k, vi = t ? encode(raw.v, t) : raw.v;
    if (t) [q, k, v] = [decode(qi as Uint16Array, t), decode(ki as Uint16Array, t), decode(vi as Uint16Array, t)];
    const o = c.path.output;
    const dst = o === 'f32' ? poisoned(q.length) : new Uint16Array(q.length).fill(o === 'bf16' ? 0x7fc0 : 0x7e00);
    const args = { ...shape, q: qi, k: ki, v: vi, inputType: c.path.input, out: dst, outputType: o, lse };
    if (engine === 'gpu') cudaAttentionRaw(args);
    else cudaEmulateRaw(args, engine !== 'emulator');
    out = o === 'f32' ? (dst as Float32Array) : decode(dst as Uint16Array, o);
  }
  const ref = refAttention({ q, k, v, layout: refLayout(segs, g), heads, numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: c.headDim, options: c.options });
  expect(out.every(Number.isFinite), 'every output element written').toBe(true);
  expect(lse.every(Number.isFinite), 'every lse element written').toBe(true);
  expect(relL2(out, ref.out)).toBeLessThan(c.path.tol);
  expect(relL2(lse, ref.lse)).toBeLessThan(c.path.lseTol);
}

describe.runIf(gpu).each(PATHS)('CUDA kernel, $input in / $output out, against the float64 reference', (path) => {
  it.each([64, 80, 96, 128, 256])('head dim %i, every category and option', (headDim) => {
    OPTIONS.forEach((options, i) => gpuCase({ seed: headDim * 10 + i, numHeads: 8, numKvHeads: 2, headDim, options, path, maxTokens: headDim >= 128 ? 260 : 400 }));
  });

  it.each([
    [4, 4],
    [8, 4],
    [8, 2],
    [14, 2],
    [7, 1],
  ])('GQA %i query heads over %i KV heads', (numHeads, numKvHeads) => {
    gpuCase({ seed: 1000 + numHeads * 7 + numKvHeads, numHeads, numKvHeads, headDim: 128, options: OPTIONS[numHeads % OPTIONS.length], path });
  });

  it.each([
    [64, 64],
    [16, 16],
    [8, 32],
    [48, 24],
    [128, 64],
    [256, 256],
  ])('plan block sizes %i x %i and varied global sinks', (blockM, blockN) => {
    for (let i = 0; i < 3; i++)
      gpuCase({ seed: 2000 + blockM + blockN + i, numHeads: 4, numKvHeads: 2, headDim: 64, options: OPTIONS[i], blockM, blockN, globalSinks: i, path });
  });

  it('long varlen batch (many key tiles per query block)', () => {
    gpuCase({ seed: 2500, numHeads: 4, numKvHeads: 2, headDim: 128, options: OPTIONS[0], maxTokens: 3000, path });
  });

  it('large scores (softmax stability)', () => {
    gpuCase({ seed: 3001, numHeads: 4, numKvHeads: 1, headDim: 64, options: OPTIONS[0], std: 3, path });
  });
});

describe.runIf(gpu)('CUDA backend through attention()', () => {
  it("async calls, and 'auto' picks the GPU", async () => {
    const segs = [[{ kind: 'text' as const, length: 40 }, { kind: 'image' as const, length: 700 }, { kind: 'text' as const, length: 9 }]];
    const L = Layout.fromSegments(segs);
    const plan = MaskPlan.build(L);
    const heads = [...HEAD_CATEGORIES];
    const qkv = randomQkv(11, L.numTokens, 4, 2, 96);
    const ref = refAttention({ ...qkv, layout: refLayout(segs, 1), heads, numHeads: 4, numKvHeads: 2, headDim: 96, options: OPTIONS[0] });
    for (const backend of ['cuda', 'auto'] as const) {
      const r = await attention({ ...qkv, plan, heads, numHeads: 4, numKvHeads: 2, headDim: 96, returnLse: true, backend });
      expect(relL2(r.out, ref.out)).toBeLessThan(1e-5);
      expect(relL2(r.lse!, ref.lse)).toBeLessThan(1e-5);
    }
  });

  it('bad shapes still fail before native work', () => {
    expect(() => attentionSync({ ...smallArgs, q: smallArgs.q.subarray(1), backend: 'cuda' })).toThrow(BlindsightError);
  });
});

// ---- Without a GPU: the kernels' device code on the CPU, under the CTA emulator ----

describe.runIf(module.addon?.emulate !== undefined || expectModule)('CUDA kernels under the CTA emulator, against the float64 reference', () => {
  const bf16 = PATHS[1], f32 = PATHS[0];
  it.each(PATHS)('$input in / $output out: every category and option', (path) => {
    OPTIONS.forEach((options, i) => gpuCase({ seed: 500 + i, numHeads: 4, numKvHeads: 2, headDim: 64, options, path, maxTokens: 150 }, 'emulator'));
  });

  it.each(PATHS)('$input in / $output out: asynchronous copies landing at the wait', (path) => {
    gpuCase({ seed: 600, numHeads: 4, numKvHeads: 2, headDim: 64, options: OPTIONS[2], path, maxTokens: 200 }, 'emulator, copies at wait');
  });

  it.each([80, 96, 128, 256])('head dim %i, tensor-core and f32 mainloops', (headDim) => {
    for (const path of [bf16, f32])
      [0, 3].forEach((i) => gpuCase({ seed: 700 + headDim + i, numHeads: 2, numKvHeads: 1, headDim, options: OPTIONS[i], path, maxTokens: 120 }, 'emulator'));
  });

  it('GQA, plan block sizes (chunked and idle-warp query blocks) and global sinks', () => {
    const cases: [number, number, number, number, number][] = [
      [7, 1, 64, 64, 1],
      [6, 2, 128, 32, 2],
      [4, 2, 16, 16, 0],
      [4, 4, 8, 32, 1],
      [4, 2, 48, 24, 3],
    ];
    cases.forEach(([numHeads, numKvHeads, blockM, blockN, globalSinks], i) => {
      for (const path of [bf16, f32])
        gpuCase({ seed: 800 + i, numHeads, numKvHeads, headDim: 64, options: OPTIONS[i], path, blockM, blockN, globalSinks, maxTokens: 160 }, 'emulator');
    });
  });

  it('a long prompt: many key tiles per query block and long gathered ranges', () => {
    for (const path of [bf16, f32])
      gpuCase({ seed: 900, numHeads: 2, numKvHeads: 1, headDim: 64, options: OPTIONS[0], path, maxTokens: 1200 }, 'emulator, copies at wait');
  });

  it('large scores (softmax stability)', () => {
    for (const path of [bf16, f32]) gpuCase({ seed: 3001, numHeads: 2, numKvHeads: 1, headDim: 64, options: OPTIONS[0], std: 3, path, maxTokens: 200 }, 'emulator');
  });
});
