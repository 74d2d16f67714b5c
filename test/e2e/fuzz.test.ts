/**
 * A short bounded run of the JS API fuzzer (test/fuzz/api_fuzz.mjs) on a fresh seed each time; the long run is
 * `node test/fuzz/api_fuzz.mjs --seconds 600` (docs/architecture.md, "Fuzzing"). The C ABI's libFuzzer harness runs in
 * .ci/run's long checks.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';
import { repoRoot } from '../helpers/toolchain.js';

it('the API fuzzer finds no uncoded error, crash or non-finite result', () => {
  const seed = String((Date.now() % 100_000) + 1);
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'test/fuzz/api_fuzz.mjs'), '--seconds', '8', '--seed', seed], { encoding: 'utf8', timeout: 120_000 });
  expect(r.signal, `seed ${seed}: ${r.stderr}`).toBeNull();
  expect(r.status, `seed ${seed}: ${r.stderr}`).toBe(0);
  const calls = Number(/^ok (\d+) calls/m.exec(r.stdout)?.[1]);
  expect(calls, r.stdout).toBeGreaterThan(1000);
});
