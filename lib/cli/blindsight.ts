#!/usr/bin/env node
/**
 * The `blindsight` command: calibrate a head policy from captured Q/K samples, re-threshold it, count its FLOPs, and
 * draw it. Errors print as `blindsight: CODE: message` with exit status 1 (2 for usage mistakes).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { calibrate, calibrationStats, rethreshold, type CalibrateOptions } from '../calibration/calibrate.js';
import { BlindsightError, isErrorCode, show } from '../core/errors.js';
import { MODEL_SHAPES, policyFlops, type ModelShape } from '../report/flops.js';
import { Layout } from '../core/layout.js';
import { MaskPlan, type MaskOptions } from '../core/plan.js';
import { HeadPolicy } from '../core/policy.js';
import { openSample } from '../calibration/samples.js';
import { planSvg, policySvg } from '../report/svg.js';
import { HEAD_CATEGORIES, type HeadCategory } from '../core/categories.js';
import type { TemplateName } from '../core/templates.js';
import { ProgressBar } from '../report/progress.js';
import { setThreads } from '../attention/runtime.js';

const MODELS = Object.keys(MODEL_SHAPES).join(', ');

const HELP = `usage: blindsight <command> [options]

commands:
  calibrate <samples.safetensors...> --out policy.json
      Measure where every head's attention mass goes on the samples and pick each head's category.
      --tau X               retained mass to reach, averaged over all image queries (default 0.95)
      --worst-tau X         retained mass the worst sample must reach (default tau - 0.05)
      --pin-first K         keep the first K layers dense
      --pin-last K          keep the last K layers dense
      --pin-layers A,B,...  keep these layers dense
      --model NAME          a built-in model (${MODELS}) sets the scale and bidirectional
                            images; any other name is just recorded in the policy
      --scale X             softmax scale (default: the sample's blindsight.scale, else 1/sqrt(headDim))
      --no-text-keys        sparse heads will not see text keys (default: they do)
      --bidirectional-images  tokens of one image see each other both ways (Gemma 3)
      --window W            sliding window (sinks exempt), as the plan option
      --template NAME       template for samples that carry input_ids but no blindsight.template
      --global-sinks N      sinks at each sequence start (default: the sample's, else 1)
      --threads N           CPU threads (default: all cores)
      --svg FILE            also draw the policy
      --quiet               no progress bar
  rethreshold <policy.json> --out new.json [--tau X] [--worst-tau X] [--pin-first K] [--pin-last K]
      [--pin-layers A,B] [--text-keys true|false]
      Re-decide the categories from the statistics stored in a calibrated policy (no samples needed).
  inspect [--policy policy.json] [--layout FILE] [--out FILE] [--plan-out FILE]
      Draw a policy as a layers x heads grid (--out, default <policy>.svg) and/or a layout's block plan per
      category (--plan-out, default <layout>.plan.svg). FILE is a segments JSON file or a calibration sample.
      Plan options: --no-text-keys --bidirectional-images --window W --block-m N --block-n N --categories a,b
  flops --policy policy.json --layout FILE [--model NAME]
      Attention pairs kept by the policy on the layout and, with a model, the whole-prefill FLOP saving.
  help
`;

class UsageError extends Error {}

const OPTIONS = {
  out: { type: 'string' },
  'plan-out': { type: 'string' },
  tau: { type: 'string' },
  'worst-tau': { type: 'string' },
  'pin-first': { type: 'string' },
  'pin-last': { type: 'string' },
  'pin-layers': { type: 'string' },
  model: { type: 'string' },
  scale: { type: 'string' },
  'no-text-keys': { type: 'boolean' },
  'text-keys': { type: 'string' },
  'bidirectional-images': { type: 'boolean' },
  window: { type: 'string' },
  template: { type: 'string' },
  'global-sinks': { type: 'string' },
  threads: { type: 'string' },
  svg: { type: 'string' },
  quiet: { type: 'boolean' },
  policy: { type: 'string' },
  layout: { type: 'string' },
  'block-m': { type: 'string' },
  'block-n': { type: 'string' },
  categories: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

function number(v: string | undefined, name: string, check: (x: number) => boolean = Number.isFinite): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !check(x)) throw new UsageError(`--${name}: invalid value ${show(v)}`);
  return x;
}
const int = (v: string | undefined, name: string) => number(v, name, (x) => Number.isInteger(x) && x >= 0);
function intList(v: string | undefined, name: string): number[] | undefined {
  if (v === undefined) return undefined;
  return v.split(',').filter((s) => s.trim() !== '').map((s) => int(s.trim(), name)!);
}

function modelShape(name: string | undefined): ModelShape | undefined {
  return name !== undefined && Object.hasOwn(MODEL_SHAPES, name) ? (MODEL_SHAPES as Record<string, ModelShape>)[name] : undefined;
}

function maskOptions(v: Values, model?: ModelShape): MaskOptions {
  return {
    textKeys: !v['no-text-keys'],
    bidirectionalImages: v['bidirectional-images'] ?? model?.bidirectionalImages ?? false,
    window: number(v.window, 'window', (x) => Number.isInteger(x) && x >= 1) ?? null,
  };
}

async function loadLayout(file: string, v: Values): Promise<Layout> {
  const globalSinks = int(v['global-sinks'], 'global-sinks');
  if (file.endsWith('.json')) {
    let json: unknown;
    try {
      json = JSON.parse(await readFile(file, 'utf8'));
    } catch (e) {
      if (e instanceof SyntaxError) throw new BlindsightError('BAD_SEGMENTS', `${file}: not valid JSON (${e.message})`);
      throw e;
    }
    const isObject = typeof json === 'object' && json !== null && !Array.isArray(json);
    const o = (isObject ? json : {}) as { segments?: unknown; globalSinks?: unknown };
    const segments = isObject && 'segments' in o ? o.segments : json;
    if (!Array.isArray(segments))
      throw new BlindsightError('BAD_SEGMENTS', `${file}: expected an array of segments or {"segments": [...]}, got ${json === null ? 'null' : typeof json}`);
    try {
      return Layout.fromSegments(segments as never, { globalSinks: globalSinks ?? (o.globalSinks as number | undefined) });
    } catch (e) {
      if (e instanceof Error) e.message = `${file}: ${e.message}`;
      throw e;
    }
  }
  const sample = await openSample(file, { template: v.template as TemplateName | undefined, globalSinks });
  await sample.close?.();
  return sample.layout;
}

async function cmdCalibrate(files: string[], v: Values): Promise<void> {
  if (files.length === 0) throw new UsageError('calibrate needs at least one sample file');
  if (!v.out) throw new UsageError('calibrate needs --out policy.json');
  const model = modelShape(v.model);
  if (v.threads !== undefined) setThreads(int(v.threads, 'threads')!);
  const bar = new ProgressBar({ quiet: v.quiet });
  const mask = maskOptions(v, model);
  const options: CalibrateOptions = {
    tau: number(v.tau, 'tau'),
    worstTau: number(v['worst-tau'], 'worst-tau'),
    pinFirst: int(v['pin-first'], 'pin-first'),
    pinLast: int(v['pin-last'], 'pin-last'),
    pinLayers: intList(v['pin-layers'], 'pin-layers'),
    textKeys: mask.textKeys,
    bidirectionalImages: mask.bidirectionalImages,
    window: mask.window,
    scale: number(v.scale, 'scale') ?? model?.scale,
    model: model?.name ?? v.model,
    template: (v.template as TemplateName | undefined) ?? model?.template,
    globalSinks: int(v['global-sinks'], 'global-sinks'),
    onProgress: (p) => bar.update(p.done / p.total, `sample ${p.sample + 1}/${p.samples} layer ${p.layer + 1}/${p.layers}`),
  };
  const started = Date.now();
  const policy = await calibrate(files, options);
  bar.done();
  await policy.save(v.out);
  if (v.svg) await writeFile(v.svg, policySvg(policy));
  const c = policy.counts();
  const stats = calibrationStats(policy);
  process.stdout.write(
    `${v.out}: ${policy.numLayers} layers x ${policy.numHeads} heads from ${files.length} sample(s) in ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
      `${HEAD_CATEGORIES.map((k) => `${k} ${c[k]}`).join(', ')} (tau ${stats.threshold}, worst sample ${stats.worstSampleThreshold})\n`,
  );
}

async function cmdRethreshold(files: string[], v: Values): Promise<void> {
  if (files.length !== 1) throw new UsageError('rethreshold takes one policy file');
  if (!v.out) throw new UsageError('rethreshold needs --out new.json');
  const tk = v['text-keys'];
  if (tk !== undefined && tk !== 'true' && tk !== 'false') throw new UsageError('--text-keys must be true or false');
  const policy = rethreshold(await HeadPolicy.load(files[0]!), {
    tau: number(v.tau, 'tau'),
    worstTau: number(v['worst-tau'], 'worst-tau'),
    pinFirst: int(v['pin-first'], 'pin-first'),
    pinLast: int(v['pin-last'], 'pin-last'),
    pinLayers: intList(v['pin-layers'], 'pin-layers'),
    textKeys: tk === undefined ? undefined : tk === 'true',
  });
  await policy.save(v.out);
  const c = policy.counts();
  process.stdout.write(`${v.out}: ${HEAD_CATEGORIES.map((k) => `${k} ${c[k]}`).join(', ')}\n`);
}

async function cmdInspect(v: Values): Promise<void> {
  if (!v.policy && !v.layout) throw new UsageError('inspect needs --policy and/or --layout');
  if (v.policy) {
    const out = v.out ?? v.policy.replace(/\.json$/, '') + '.svg';
    await writeFile(out, policySvg(await HeadPolicy.load(v.policy)));
    process.stdout.write(`${out}\n`);
  }
  if (v.layout) {
    const layout = await loadLayout(v.layout, v);
    const plan = MaskPlan.build(layout, {
      ...maskOptions(v),
      blockM: int(v['block-m'], 'block-m'),
      blockN: int(v['block-n'], 'block-n'),
    });
    const categories = v.categories?.split(',').map((s) => s.trim()) as HeadCategory[] | undefined;
    for (const c of categories ?? []) if (!HEAD_CATEGORIES.includes(c)) throw new UsageError(`--categories: unknown category ${show(c)}`);
    const out = v['plan-out'] ?? path.join(path.dirname(v.layout), path.basename(v.layout).replace(/\.(json|safetensors)$/, '') + '.plan.svg');
    await writeFile(out, planSvg(plan, { categories }));
    process.stdout.write(`${out}\n`);
  }
}

async function cmdFlops(v: Values): Promise<void> {
  if (!v.policy || !v.layout) throw new UsageError('flops needs --policy and --layout');
  const model = modelShape(v.model);
  if (v.model !== undefined && !model) throw new UsageError(`--model: unknown model ${show(v.model)}; built-in: ${MODELS}`);
  const policy = await HeadPolicy.load(v.policy);
  const layout = await loadLayout(v.layout, v);
  const f = policyFlops(policy, layout, model, { mask: maskOptions(v, model) });
  const g = (x: number) => (x / 1e9).toFixed(3);
  const lines = [
    `prompt: ${f.numTokens} tokens, ${layout.numImages} image(s); policy ${policy.numLayers} x ${policy.numHeads}`,
    `attention pairs kept: ${(100 * f.pairs.keptRatio).toFixed(2)} % (${f.pairs.policy} of ${f.pairs.dense})`,
  ];
  if (f.prefill) {
    const p = f.prefill;
    lines.push(
      `${model!.name} prefill GFLOPs: projections ${g(p.projections)}, MLP ${g(p.mlp)}, attention ${g(p.attentionDense)} dense -> ${g(p.attentionPolicy)}`,
      `total ${g(p.dense)} -> ${g(p.policy)}: saving ${(100 * p.saving).toFixed(2)} % (attention is ${(100 * p.attentionShare).toFixed(1)} % of the dense prefill), FLOP-bound speedup ${p.speedup.toFixed(3)}x`,
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(HELP);
    return command === undefined ? 2 : 0;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values: v, positionals } = parsed;
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  switch (command) {
    case 'calibrate': await cmdCalibrate(positionals, v); break;
    case 'rethreshold': await cmdRethreshold(positionals, v); break;
    case 'inspect': await cmdInspect(v); break;
    case 'flops': await cmdFlops(v); break;
    default: throw new UsageError(`unknown command ${show(command)}`);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(`blindsight: ${e.message}\n(see blindsight help)\n`);
      process.exitCode = 2;
    } else if ((e instanceof TypeError || e instanceof RangeError) && isErrorCode((e as { code?: unknown }).code)) {
      // An option value the library refused (a block size, a window, a threshold): a usage mistake, like a malformed one.
      process.stderr.write(`blindsight: ${(e as unknown as { code: string }).code}: ${e.message}\n(see blindsight help)\n`);
      process.exitCode = 2;
    } else if (e instanceof BlindsightError) {
      process.stderr.write(`blindsight: ${e.code}: ${e.message}\n`);
      process.exitCode = 1;
    } else {
      // File system errors carry their code in the message already ("ENOENT: no such file or directory, open 'x'").
      const err = e as NodeJS.ErrnoException;
      const message = err.message ?? String(e);
      process.stderr.write(`blindsight: ${err.code && !message.startsWith(err.code) ? `${err.code}: ` : ''}${message}\n`);
      process.exitCode = 1;
    }
  },
);
