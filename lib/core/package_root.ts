/**
 * The package's root directory. This file is dist/core/package_root.js in the ES module build; the CommonJS build
 * (dist/cjs/, made by scripts/build-cjs.mjs) compiles a copy that reads __dirname instead of import.meta, the one
 * thing the two builds cannot share.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
