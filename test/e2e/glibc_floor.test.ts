/**
 * The Linux prebuilds' floor: a prebuild must load on glibc 2.28 (Node 20's own floor: Debian 10, Ubuntu 20.04,
 * RHEL 8) whatever libstdc++ the system has. scripts/prebuild.mjs links libstdc++ statically and pins the glibc symbols
 * whose default version on the build machine is newer (native/compat/glibc_floor.c); this test builds the prebuild
 * (this machine's architecture, more with BLINDSIGHT_FLOOR_ARCHES), reads the versions of every symbol they
 * import with objdump, and fails on anything newer than the floor. Where .ci/run made an older Debian root
 * (.cache/oldroot/<arch>, Debian 11 with glibc 2.31, by debootstrap), the same Node loads the prebuild against that
 * root's C library and runs a call. Under emulation (scripts/arm64-tests.mjs) it checks the arm64 prebuild the tests
 * load (BLINDSIGHT_PREBUILD) instead of building one.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, run, which } from '../helpers/toolchain.js';

const FLOOR = { GLIBC: [2, 28], GCC: [7, 0, 0] } as const; // GCC_: libgcc_s.so.1, as GCC 8 (Debian 10, RHEL 8) has it
const TRIPLE: Record<string, string> = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };
const ALLOWED_NEEDED = /^(libc\.so\.6|libm\.so\.6|libgcc_s\.so\.1|ld-linux-(x86-64|aarch64)\.so\.[12])$/;

const linux = process.platform === 'linux';
const emulatedPrebuild = process.env.BLINDSIGHT_PREBUILD && process.env.BLINDSIGHT_CROSS ? process.env.BLINDSIGHT_PREBUILD : undefined;
const objdumpFor = (arch: string) => {
  const own = process.arch === arch || (emulatedPrebuild && arch === 'arm64');
  const candidates = [`${TRIPLE[arch]}-objdump`, ...(own && process.arch === arch && !emulatedPrebuild ? ['objdump'] : [])];
  return candidates.find((t) => which(t));
};
// This machine's architecture; BLINDSIGHT_FLOOR_ARCHES=x64,arm64 adds cross-compiled ones (Debian's cross compilers).
// .ci/run checks linux-arm64 in its emulated run instead, on the prebuild those tests load, which saves a build here.
const wanted = (process.env.BLINDSIGHT_FLOOR_ARCHES || process.arch).split(',').filter((a) => TRIPLE[a]);
const arches = linux
  ? emulatedPrebuild
    ? ['arm64']
    : wanted.filter((a) => {
        const ok = a === process.arch || Boolean(which(`${TRIPLE[a]}-g++`) && objdumpFor(a));
        if (!ok) console.warn(`SKIPPING the linux-${a} prebuild floor: g++-${TRIPLE[a]!.replace(/_/g, '-')} / binutils not installed`);
        return ok;
      })
  : [];

/** Parses `objdump -T` and `objdump -p` output: the versioned imports and the libraries the binary needs. */
function inspect(objdump: string, file: string) {
  const dyn = run(objdump, ['-T', file]);
  const versions = new Map<string, string[]>();
  for (const m of dyn.matchAll(/\*UND\*\s+\S+\s+\(?([A-Z]+_[\d.]+)\)?\s+(\S+)$/gm)) {
    const list = versions.get(m[1]!) ?? [];
    list.push(m[2]!);
    versions.set(m[1]!, list);
  }
  const needed = [...run(objdump, ['-p', file]).matchAll(/^\s*NEEDED\s+(\S+)/gm)].map((m) => m[1]!);
  return { versions, needed };
}

function newer(version: string): boolean {
  const [family, rest] = version.split('_') as [string, string];
  const v = rest.split('.').map(Number);
  const floor = (FLOOR as Record<string, readonly number[]>)[family];
  if (!floor) return true; // GLIBCXX_, CXXABI_ (libstdc++ must be linked in), or anything unexpected
  for (let i = 0; i < Math.max(v.length, floor.length); i++) {
    const a = v[i] ?? 0, b = floor[i] ?? 0;
    if (a !== b) return a > b;
  }
  return false;
}

let out: string;
const binaries: Record<string, string> = {};
beforeAll(() => {
  out = mkdtempSync(path.join(tmpdir(), 'blindsight-floor-'));
  for (const arch of arches) {
    if (emulatedPrebuild) {
      binaries[arch] = path.join(emulatedPrebuild, 'prebuilds', `linux-${arch}`, 'blindsight.node');
      continue;
    }
    const npmCli = which('npm')!;
    run(process.execPath, [npmCli, 'run', '--silent', 'prebuild', '--', '--quiet', '--skip-cuda', '--arch', arch, '--out', out]);
    binaries[arch] = path.join(out, 'prebuilds', `linux-${arch}`, 'blindsight.node');
  }
}, 600_000);
afterAll(() => out && rmSync(out, { recursive: true, force: true }));

describe.skipIf(arches.length === 0)('Linux prebuilds load on glibc 2.28 with any libstdc++', () => {
  it.each(arches)('linux-%s: no symbol version newer than GLIBC_2.28 / GCC_7.0.0, no libstdc++', (arch) => {
    const { versions, needed } = inspect(objdumpFor(arch)!, binaries[arch]!);
    const tooNew = [...versions].filter(([v]) => newer(v)).map(([v, syms]) => `${v}: ${syms.join(', ')}`);
    expect(tooNew, 'imports newer than the floor').toEqual([]);
    expect(versions.has('GLIBC_2.17') || versions.has('GLIBC_2.2.5'), 'the binary imports versioned glibc symbols at all').toBe(true);
    expect(needed.filter((n) => !ALLOWED_NEEDED.test(n)), 'needed libraries').toEqual([]);
    console.log(`linux-${arch} prebuild imports: ${[...versions.keys()].sort().join(' ')}; needs ${needed.join(' ')}`);
  });

  // Debian 11's C library (glibc 2.31, the oldest Debian release the mirror still serves) has libpthread separate from
  // libc, as glibc 2.28 does; the pinned pthread symbols must resolve there. The root is only the C and C++ runtime
  // libraries (debootstrap's first stage), used by the dynamic loader of that root, not a chroot.
  const roots = Object.fromEntries(arches.map((a) => [a, path.join(repoRoot, '.cache', 'oldroot', a)]));
  const haveRoot = (arch: string) => existsSync(path.join(roots[arch]!, 'lib', TRIPLE[arch]!, 'libc.so.6'));
  // An arm64 prebuild on an x64 machine runs in the arm64 Node that scripts/arm64-tests.mjs fetched, under qemu-user.
  const arm64Node = path.join(repoRoot, '.cache', 'arm64', 'node', 'bin', 'node');
  const qemu = ['qemu-aarch64-static', 'qemu-aarch64'].find((q) => which(q));
  const nodeFor = (arch: string): string[] | undefined =>
    arch === process.arch ? [process.execPath] : arch === 'arm64' && qemu && existsSync(arm64Node) ? [qemu, arm64Node] : undefined;
  it.for(arches)('linux-%s: loads and computes under an older glibc (Debian 11 root, when .ci/run made one)', (arch, ctx) => {
    if (!haveRoot(arch)) {
      console.warn(`SKIPPING the older-glibc load of linux-${arch}: no root at ${roots[arch]} (.ci/run makes it with debootstrap)`);
      ctx.skip();
      return;
    }
    const runner = nodeFor(arch);
    if (!runner) {
      console.warn(`SKIPPING the older-glibc load of linux-${arch}: no ${arch} Node to load it with (scripts/arm64-tests.mjs fetches one)`);
      ctx.skip();
      return;
    }
    const root = roots[arch]!;
    const prebuildDir = path.dirname(path.dirname(path.dirname(binaries[arch]!)));
    const script = path.join(out, 'old-glibc.mjs');
    writeFileSync(
      script,
      `import { Layout, MaskPlan, attentionSync, nativeAddonPath, cpuInfo } from ${JSON.stringify(path.join(repoRoot, 'dist', 'index.js'))};\n` +
        `const plan = MaskPlan.build(Layout.fromSegments([[{ kind: 'text', length: 5 }, { kind: 'image', length: 40 }]]));\n` +
        `const q = Float32Array.from({ length: 45 * 2 * 16 }, (_, i) => Math.sin(i));\n` +
        `const r = attentionSync({ q, k: q, v: q, plan, heads: ['dense', 'sink'], numHeads: 2, numKvHeads: 2, headDim: 16 });\n` +
        // A C++ exception thrown and caught inside the addon (the static libstdc++ with the system's unwinder).
        `import { native } from ${JSON.stringify(path.join(repoRoot, 'dist', 'core', 'native.js'))};\n` +
        `let threw; try { native().fmaPeak(1, 'nope', 0.01); } catch (e) { threw = e.code; }\n` +
        `console.log(JSON.stringify({ addon: nativeAddonPath(), glibc: process.report.getReport().header.glibcVersionRuntime, sum: r.out.reduce((a, x) => a + x, 0), threw, isas: cpuInfo().isas }));\n`,
    );
    // Debian 11 names its C library libc-<version>.so; its loader is ld-<version>.so beside it.
    const libDir = path.join(root, 'usr', 'lib', TRIPLE[arch]!);
    const version = /^libc-([\d.]+)\.so$/.exec(readlinkSync(path.join(libDir, 'libc.so.6')))?.[1];
    expect(version, 'the root\'s glibc version').toBeDefined();
    const lib = [libDir, path.join(root, 'lib', TRIPLE[arch]!)].join(':');
    const env = { ...process.env, BLINDSIGHT_PREBUILD: prebuildDir };
    // x64: the old root's dynamic loader starts this Node against the old libraries. arm64 (emulated): qemu-user takes
    // the old root as the arm64 system (QEMU_LD_PREFIX).
    const r =
      arch === 'x64'
        ? spawnSync(path.join(libDir, `ld-${version}.so`), ['--library-path', lib, process.execPath, script], { encoding: 'utf8', env })
        : spawnSync(runner[0]!, [...runner.slice(1), script], { encoding: 'utf8', env: { ...env, QEMU_LD_PREFIX: root, QEMU_CPU: 'max' } });
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(report.addon).toBe(binaries[arch]);
    expect(report.glibc).toBe(version);
    console.log(`linux-${arch} prebuild loaded and ran under glibc ${report.glibc} (${root})`);
    expect(Number.isFinite(report.sum)).toBe(true);
    expect(report.threw).toBe('UNSUPPORTED_ISA');
  });
});
