import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, run } from '../helpers/toolchain.js';

// Documentation code marked `<!-- example: FILE -->` (in README.md or docs/*.md) is an excerpt of FILE, which the suite
// runs (install.test.ts runs the Node examples, capi.test.ts the C and Python ones). Every line of the excerpt must be
// a line of FILE, in order; comment lines with "..." mark what the excerpt leaves out.
const pages = ['README.md', ...readdirSync(path.join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const text = new Map(pages.map((p) => [p, readFileSync(path.join(repoRoot, p), 'utf8')]));
const excerpts = pages.flatMap((page) =>
  [...text.get(page)!.matchAll(/<!-- example: (\S+) -->\n```\w*\n([\s\S]*?)\n```/g)].map((m) => ({ page, file: m[1], code: m[2] })),
);

describe('documentation', () => {
  it('has the Node, C and Python integration examples', () => {
    expect(excerpts.map((e) => e.file).sort()).toEqual(
      expect.arrayContaining(['examples/c/attention.c', 'examples/node/hook.mjs', 'examples/python/blindsight_ctypes.py']),
    );
  });

  it.each(excerpts)('$page shows lines of $file, which runs', ({ file, code }) => {
    const source = readFileSync(path.join(repoRoot, file), 'utf8').split('\n').map((l) => l.trim());
    let at = 0;
    for (const line of code.split('\n').map((l) => l.trim())) {
      if (line === '' || (/^(\/\/|\/\*|#)/.test(line) && line.includes('...'))) continue;
      const found = source.indexOf(line, at);
      expect(found, `documented line not in ${file} (in order): ${line}`).toBeGreaterThanOrEqual(0);
      at = found + 1;
    }
  });

  it('links only to files that exist', () => {
    const broken: string[] = [];
    for (const [page, body] of text) {
      for (const m of body.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
        const target = m[1];
        if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
        if (!existsSync(path.join(repoRoot, path.dirname(page), target))) broken.push(`${page} -> ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('the README stays a front door', () => {
    expect(text.get('README.md')!.split('\n').length).toBeLessThanOrEqual(250);
  });
});

describe('the project speaks of itself', () => {
  it('no tracked file refers to tracker items', () => {
    const files = run('git', ['ls-files']).trim().split('\n').filter((f) => !/\.(json|svg|lock)$/.test(f) && f !== 'package-lock.json');
    const hits: string[] = [];
    const pattern = new RegExp(['\\bissue #?\\d+', "\\bthe issue's\\b", '\\bas the issue asks\\b'].join('|'), 'i');
    for (const f of files) {
      const lines = readFileSync(path.join(repoRoot, f), 'utf8').split('\n');
      lines.forEach((l, i) => {
        if (pattern.test(l)) hits.push(`${f}:${i + 1}: ${l.trim()}`);
      });
    }
    expect(hits).toEqual([]);
  });
});
