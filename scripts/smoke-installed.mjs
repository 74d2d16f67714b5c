#!/usr/bin/env node
/**
 * The release workflow's check of an installed tarball (.github/workflows/release.yml): run in a project where
 * `npm install blindsight-<version>.tgz` just ran. The package must load its prebuilt binary for this platform
 * (argument: the expected <platform>-<arch>), from ES modules and from CommonJS, and every kernel level this CPU runs
 * must agree with a plain causal softmax attention computed here in float64 (one text sequence, dense heads, GQA).
 *
 *   node smoke-installed.mjs linux-x64
 */
import { createRequire } from 'node:module';
import path from 'node:path';

const target = process.argv[2] ?? `${process.platform}-${process.arch}`;
const esm = await import('blindsight');
const cjs = createRequire(path.join(process.cwd(), 'package.json'))('blindsight');

const addon = esm.nativeAddonPath();
if (!addon.includes(`${path.sep}prebuilds${path.sep}${target}${path.sep}`)) throw new Error(`loaded ${addon}, not the ${target} prebuild`);
if (cjs.nativeAddonPath() !== addon) throw new Error(`CommonJS loaded ${cjs.nativeAddonPath()}, ES modules ${addon}`);

const n = 150, numHeads = 4, numKvHeads = 2, d = 64;
let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
const q = Float32Array.from({ length: n * numHeads * d }, rand);
const k = Float32Array.from({ length: n * numKvHeads * d }, rand);
const v = Float32Array.from({ length: n * numKvHeads * d }, rand);

// out[t][h] = softmax over keys j <= t of (q[t][h] . k[j][g]) / sqrt(d), times v[j][g], g = h / (numHeads / numKvHeads).
const ref = new Float64Array(n * numHeads * d);
for (let t = 0; t < n; t++)
  for (let h = 0; h < numHeads; h++) {
    const g = Math.floor(h / (numHeads / numKvHeads));
    const s = [];
    for (let j = 0; j <= t; j++) {
      let dot = 0;
      for (let c = 0; c < d; c++) dot += q[(t * numHeads + h) * d + c] * k[(j * numKvHeads + g) * d + c];
      s.push(dot / Math.sqrt(d));
    }
    const m = Math.max(...s);
    const w = s.map((x) => Math.exp(x - m));
    const sum = w.reduce((a, x) => a + x, 0);
    for (let j = 0; j <= t; j++)
      for (let c = 0; c < d; c++) ref[(t * numHeads + h) * d + c] += (w[j] / sum) * v[(j * numKvHeads + g) * d + c];
  }

const results = {};
for (const [name, m] of [['esm', esm], ['cjs', cjs]]) {
  const plan = m.MaskPlan.build(m.Layout.fromSegments([[{ kind: 'text', length: n }]]));
  for (const isa of m.cpuInfo().isas) {
    const { out } = m.attentionSync({ q, k, v, plan, heads: Array(numHeads).fill('dense'), numHeads, numKvHeads, headDim: d, isa });
    let num = 0, den = 0;
    for (let i = 0; i < out.length; i++) (num += (out[i] - ref[i]) ** 2), (den += ref[i] ** 2);
    const err = Math.sqrt(num / den);
    if (!(err < 1e-5)) throw new Error(`${name} ${isa}: relative L2 error ${err}`);
    results[`${name}:${isa}`] = Number(err.toExponential(2));
  }
}
console.log(JSON.stringify({ target, addon, cpu: esm.cpuInfo().isas, errors: results }));
