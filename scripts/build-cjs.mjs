#!/usr/bin/env node
/**
 * The CommonJS build (dist/cjs/), so that `require('blindsight')` (and 'blindsight/calibrate', 'blindsight/report')
 * works on every Node 20, next to the ES module build in dist/ that `tsc -p tsconfig.json` makes. package.json's
 * "exports" sends `require` to dist/cjs/ and `import` to dist/, each with its own .d.ts.
 *
 * tsc emits CommonJS for the files under a package.json of "type": "commonjs", so the sources of the three entry
 * points are copied into build/cjs-src/ with such a package.json, lib/core/package_root.ts is replaced by a version
 * that reads __dirname (import.meta does not exist in CommonJS; it is the only difference), and tsc compiles the copy
 * into dist/cjs/. The two builds are separate module instances: an error thrown by one is not `instanceof` the other's
 * BlindsightError (compare `err.code`).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'build', 'cjs-src');
const out = path.join(root, 'dist', 'cjs');
const ENTRIES = ['index.ts', 'calibration/index.ts', 'report/index.ts'];

rmSync(src, { recursive: true, force: true });
rmSync(out, { recursive: true, force: true });
mkdirSync(src, { recursive: true });
cpSync(path.join(root, 'lib'), src, { recursive: true, filter: (f) => !/[\\/](bench|cli)$/.test(f) });
writeFileSync(path.join(src, 'package.json'), JSON.stringify({ type: 'commonjs' }) + '\n');
writeFileSync(
  path.join(src, 'core', 'package_root.ts'),
  [
    '// The CommonJS build of lib/core/package_root.ts (scripts/build-cjs.mjs): this file is dist/cjs/core/package_root.js.',
    "import path from 'node:path';",
    '',
    "export const packageRoot = path.resolve(__dirname, '..', '..', '..');",
    '',
  ].join('\n'),
);
writeFileSync(
  path.join(src, 'tsconfig.json'),
  JSON.stringify({
    extends: path.join(root, 'tsconfig.json'),
    compilerOptions: { rootDir: '.', outDir: out, sourceMap: false, typeRoots: [path.join(root, 'node_modules', '@types')] },
    include: [],
    files: ENTRIES,
  }),
);
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', path.join(src, 'tsconfig.json')], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  console.error(`build-cjs: tsc failed (exit ${r.status ?? r.signal})`);
  process.exit(1);
}
writeFileSync(path.join(out, 'package.json'), JSON.stringify({ type: 'commonjs' }) + '\n');
