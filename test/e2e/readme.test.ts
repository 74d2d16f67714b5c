import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/toolchain.js';

// README code marked `<!-- example: FILE -->` is an excerpt of FILE, which the suite runs (install.test.ts runs the
// Node example, capi.test.ts the C and Python ones). Every line of the excerpt must be a line of FILE, in order;
// comment lines with "..." mark what the excerpt leaves out.
const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
const excerpts = [...readme.matchAll(/<!-- example: (\S+) -->\n```\w*\n([\s\S]*?)\n```/g)].map((m) => ({ file: m[1], code: m[2] }));

describe('README integration examples', () => {
  it('has the Node, C and Python examples', () => {
    expect(excerpts.map((e) => e.file).sort()).toEqual(['examples/c/attention.c', 'examples/node/hook.mjs', 'examples/python/blindsight_ctypes.py']);
  });

  it.each(excerpts)('$file: the README shows lines of the file that runs', ({ file, code }) => {
    const source = readFileSync(path.join(repoRoot, file), 'utf8').split('\n').map((l) => l.trim());
    let at = 0;
    for (const line of code.split('\n').map((l) => l.trim())) {
      if (line === '' || (/^(\/\/|\/\*|#)/.test(line) && line.includes('...'))) continue;
      const found = source.indexOf(line, at);
      expect(found, `README line not in ${file} (in order): ${line}`).toBeGreaterThanOrEqual(0);
      at = found + 1;
    }
  });
});
