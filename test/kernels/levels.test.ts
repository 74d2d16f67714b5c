/**
 * The ISA registry as the addon reports it: every level of every architecture is listed, the build's architecture
 * compiles exactly its own, and the run-time choice follows what the CPU has. Under qemu-user (scripts/arm64-tests.mjs
 * sets QEMU_CPU) the same arm64 binary is started on emulated CPU models with and without FEAT_BF16; the kernel tests
 * (attention, dtype, mass) then compare every level cpuInfo() offers with the float64 reference.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { cpuInfo } from '../../dist/index.js';
import { repoRoot } from '../helpers/toolchain.js';

const ALL = ['generic', 'avx2', 'avx512', 'avx512bf16', 'neon', 'neonbf16'];
const OWN: Record<string, string[]> = { x64: ['generic', 'avx2', 'avx512', 'avx512bf16'], arm64: ['generic', 'neon', 'neonbf16'] };
const emulated = process.arch === 'arm64' && Boolean(process.env.QEMU_CPU);

/** cpuInfo() and the error of a forced neonbf16 call, in a fresh process on the emulated CPU model `cpu`. */
function onCpu(cpu: string) {
  const script = `
    import { Layout, MaskPlan, attentionSync, cpuInfo } from './dist/index.js';
    const plan = MaskPlan.build(Layout.fromSegments([[{ kind: 'image', length: 16 }]]));
    const q = new Float32Array(16 * 8).fill(0.5);
    let forced;
    try { attentionSync({ q, k: q, v: q, plan, heads: ['dense'], numHeads: 1, numKvHeads: 1, headDim: 8, isa: 'neonbf16' }); forced = 'ran'; }
    catch (e) { forced = e.code + ': ' + e.message; }
    const { isas, defaultIsa } = cpuInfo();
    console.log(JSON.stringify({ isas, defaultIsa, forced }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, QEMU_CPU: cpu } });
  if (r.status !== 0) throw new Error(`${cpu}: exit ${r.status}\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { isas: string[]; defaultIsa: string; forced: string };
}

describe('CPU kernel levels', () => {
  it('lists every level of the registry and compiles those of this architecture', () => {
    const info = cpuInfo();
    expect(info.levels.map((l) => l.name)).toEqual(ALL);
    const own = OWN[process.arch] ?? ['generic'];
    for (const l of info.levels) expect(l.compiled, l.name).toBe(own.includes(l.name));
    expect(info.isas).toEqual(info.levels.filter((l) => l.supported).map((l) => l.name));
    expect(info.isas[0]).toBe('generic');
    expect(info.defaultIsa).toBe(process.env.BLINDSIGHT_ISA || info.isas[info.isas.length - 1]);
    if (process.env.BLINDSIGHT_EXPECT_ARM64_LEVELS) expect(info.isas).toEqual(['generic', 'neon', 'neonbf16']);
  });

  it.skipIf(!emulated)('arm64: FEAT_BF16 decides whether neonbf16 is offered (qemu CPU models)', () => {
    const a72 = onCpu('cortex-a72'); // Armv8.0: Advanced SIMD, no BF16
    expect(a72.isas).toEqual(['generic', 'neon']);
    expect(a72.defaultIsa).toBe('neon');
    expect(a72.forced).toMatch(/^UNSUPPORTED_ISA: .*neonbf16.*generic, neon$/);
    const max = onCpu('max'); // every feature qemu emulates, FEAT_BF16 among them
    expect(max.isas).toEqual(['generic', 'neon', 'neonbf16']);
    expect(max.defaultIsa).toBe('neonbf16');
    expect(max.forced).toBe('ran');
  });
});
