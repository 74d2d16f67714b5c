import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, run } from '../helpers/toolchain.js';

// The package's entry points as a user reaches them: a project with this checkout at node_modules/blindsight imports
// 'blindsight', 'blindsight/calibrate' and 'blindsight/report', so Node (and TypeScript, for the types) resolve them
// through package.json "exports" and nothing else, from ES modules (import) and CommonJS (require) alike. A wrong or
// missing path in the exports map fails here. (install.test.ts does the same for the main entry against the packed
// tarball.)

const ENTRIES: Record<string, string[]> = {
  blindsight: [
    'BACKENDS', 'BlindsightError', 'DTYPES', 'HEAD_CATEGORIES', 'HeadPolicy', 'KvPack', 'LayerAttention', 'Layout', 'MAX_TOKENS', 'MaskPlan',
    'POLICY_FORMAT', 'POLICY_VERSION', 'PromptAttention', 'TEMPLATES', 'attention', 'attentionSync', 'bf16BitsToF32', 'cpuInfo',
    'f16BitsToF32', 'f32ToBf16Bits', 'f32ToF16Bits', 'fmaPeak', 'fromDType', 'getThreads', 'isHeadCategory', 'listBackends',
    'mergeAttention', 'nativeAddonPath', 'setThreads', 'toDType',
  ],
  'blindsight/calibrate': [
    'CALIBRATION_VERSION', 'Calibrator', 'INPUT_IDS_TENSOR', 'MASS_BUCKETS', 'NUM_MASS_BUCKETS', 'SAMPLE_META', 'SafetensorsFile', 'attentionMass',
    'attentionMassSync', 'calibrate', 'calibrationStats', 'chooseCategories', 'coarseMass', 'encodeSafetensors', 'evaluate',
    'evaluationOf', 'evaluationTable', 'layerTensorName', 'memorySample', 'openSample', 'outputErrorStats', 'parseSafetensorsHeader',
    'relativeL2', 'retainedMass', 'rethreshold', 'writeSafetensors',
  ],
  'blindsight/report': ['CATEGORY_COLORS', 'MODEL_SHAPES', 'planSvg', 'policySvg', 'policyFlops'],
};

let app: string;

beforeAll(() => {
  app = mkdtempSync(path.join(tmpdir(), 'blindsight-exports-'));
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'exports-check', private: true, type: 'module' }));
  mkdirSync(path.join(app, 'node_modules'));
  symlinkSync(repoRoot, path.join(app, 'node_modules', 'blindsight'), 'dir');
});

afterAll(() => rmSync(app, { recursive: true, force: true }));

describe('package entry points', () => {
  it('package.json maps ".", "./calibrate" and "./report" to an ES module and a CommonJS module, each with its types', () => {
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    expect(Object.keys(pkg.exports).sort()).toEqual(['.', './calibrate', './package.json', './report']);
    for (const key of ['.', './calibrate', './report']) {
      const conditions = pkg.exports[key] as Record<string, Record<string, string>>;
      expect(Object.keys(conditions)).toEqual(['import', 'require']);
      for (const [condition, target] of Object.entries(conditions)) {
        expect(Object.keys(target), `${key} ${condition}`).toEqual(['types', 'default']);
        // TypeScript falls back to the .d.ts next to the file, so a wrong "types" path would go unnoticed below.
        for (const file of Object.values(target)) expect(existsSync(path.join(repoRoot, file)), `${key}: ${file}`).toBe(true);
        expect(target.types).toBe(target.default!.replace(/\.js$/, '.d.ts'));
      }
      expect(conditions.require!.default).toBe(conditions.import!.default!.replace('./dist/', './dist/cjs/'));
    }
  });

  it('each entry, imported by name from a project that depends on the package, exports exactly its names', () => {
    writeFileSync(
      path.join(app, 'names.mjs'),
      `const out = {};\nfor (const e of ${JSON.stringify(Object.keys(ENTRIES))}) out[e] = Object.keys(await import(e)).sort();\n` +
        `let internal;\ntry { await import('blindsight/dist/core/native.js'); internal = 'importable'; } catch (e) { internal = e.code; }\n` +
        `console.log(JSON.stringify({ out, internal }));\n`,
    );
    const { out, internal } = JSON.parse(run(process.execPath, ['names.mjs'], { cwd: app }).trim().split('\n').pop()!) as {
      out: Record<string, string[]>;
      internal: string;
    };
    for (const [entry, names] of Object.entries(ENTRIES)) expect(out[entry], entry).toEqual([...names].sort());
    expect(internal, 'modules outside the exports map stay private').toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('each entry, required from a CommonJS file, exports the same names from the CommonJS build', () => {
    writeFileSync(
      path.join(app, 'names.cjs'),
      `const out = {};\nfor (const e of ${JSON.stringify(Object.keys(ENTRIES))}) out[e] = Object.keys(require(e)).filter((k) => k !== '__esModule').sort();\n` +
        `const files = ${JSON.stringify(Object.keys(ENTRIES))}.map((e) => require.resolve(e));\n` +
        `let internal;\ntry { require('blindsight/dist/cjs/core/native.js'); internal = 'requirable'; } catch (e) { internal = e.code; }\n` +
        `const { Layout, MaskPlan, cpuInfo } = require('blindsight');\n` +
        `const plan = MaskPlan.build(Layout.fromSegments([[{ kind: 'text', length: 8 }, { kind: 'image', length: 40 }]]));\n` +
        `console.log(JSON.stringify({ out, files, internal, kept: plan.stats(['sink']).keptRatio, isa: cpuInfo().defaultIsa }));\n`,
    );
    const r = JSON.parse(run(process.execPath, ['names.cjs'], { cwd: app }).trim().split('\n').pop()!) as {
      out: Record<string, string[]>;
      files: string[];
      internal: string;
      kept: number;
      isa: string;
    };
    for (const [entry, names] of Object.entries(ENTRIES)) expect(r.out[entry], entry).toEqual([...names].sort());
    for (const f of r.files) expect(f).toMatch(/[\\/]dist[\\/]cjs[\\/].*index\.js$/);
    expect(r.internal).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
    expect(r.kept).toBeGreaterThan(0);
    expect(r.kept).toBeLessThan(1);
    expect(typeof r.isa).toBe('string');
  });

  it('TypeScript finds each entry\'s types through the same map', () => {
    writeFileSync(
      path.join(app, 'use.ts'),
      [
        `import { attention, HeadPolicy, Layout, MaskPlan, PromptAttention, type AttentionArgs, type HeadCategory } from 'blindsight';`,
        `import { attentionMass, calibrate, SafetensorsFile, type CalibrateOptions, type TensorToWrite } from 'blindsight/calibrate';`,
        `import { CATEGORY_COLORS, MODEL_SHAPES, planSvg, policyFlops, policySvg, type ModelShape } from 'blindsight/report';`,
        `const heads: HeadCategory[] = ['dense'];`,
        `const shape: ModelShape = MODEL_SHAPES['qwen2-vl-7b'];`,
        `const options: CalibrateOptions = { tau: 0.9 };`,
        `const t: TensorToWrite | undefined = undefined;`,
        `type A = AttentionArgs['plan'];`,
        `export const used = [attention, HeadPolicy, Layout, MaskPlan, PromptAttention, attentionMass, calibrate, SafetensorsFile,`,
        `  CATEGORY_COLORS, planSvg, policyFlops, policySvg, heads, shape, options, t] as const;`,
        `export type { A };`,
      ].join('\n') + '\n',
    );
    writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true,
          typeRoots: [path.join(repoRoot, 'node_modules', '@types')], types: ['node'],
        },
        files: ['use.ts'],
      }),
    );
    // The same names from a CommonJS TypeScript file (.cts: `import x = require()` resolves the "require" types).
    writeFileSync(
      path.join(app, 'use-cjs.cts'),
      [
        `import bs = require('blindsight');`,
        `import cal = require('blindsight/calibrate');`,
        `import rep = require('blindsight/report');`,
        `const heads: bs.HeadCategory[] = ['dense'];`,
        `const shape: rep.ModelShape = rep.MODEL_SHAPES['qwen2-vl-7b'];`,
        `const options: cal.CalibrateOptions = { tau: 0.9 };`,
        `type A = bs.AttentionArgs['plan'];`,
        `export const used = [bs.attention, bs.MaskPlan, cal.calibrate, rep.policyFlops, heads, shape, options] as const;`,
        `export type { A };`,
      ].join('\n') + '\n',
    );
    const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    const config = JSON.parse(readFileSync(path.join(app, 'tsconfig.json'), 'utf8'));
    writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({ ...config, files: ['use.ts', 'use-cjs.cts'] }));
    expect(run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app }).trim()).toBe('');
  });
});
