/**
 * Nothing JS can do to a pending asynchronous call crashes the process: detaching or shrinking its tensors'
 * ArrayBuffers, terminating the worker thread that made it, or process.exit() in that worker. Each scenario runs in a
 * child process, so a crash shows as an exit signal instead of taking the test runner down.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/toolchain.js';

function runScript(script: string, args: string[] = [], nodeArgs: string[] = []) {
  const r = spawnSync(process.execPath, [...nodeArgs, path.join(repoRoot, 'test/e2e/scripts', script), ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe('asynchronous calls survive what JS does meanwhile', () => {
  it('detached, transferred and shrunk tensors: a correct result or a coded rejection', () => {
    const r = runScript('detach.mjs', [], ['--expose-gc']);
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(15);
    for (const line of lines) {
      if (/^detach (q|k and v)|^shared buffers/.test(line)) expect(line).toMatch(/resolved, max\|diff\| ok$/);
      else expect(line).toMatch(/rejected DETACHED_BUFFER$/);
    }
  });

  it.each(['terminate', 'exit'])('a worker thread ended (%s) with calls pending', (mode) => {
    const r = runScript('worker_exit.mjs', [mode]);
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`main thread alive after ${mode}`);
  });
});
