// Builds thousands of plans of a 64K-token interleaved prompt and drops them, yielding to the event loop now and then
// but never calling gc(): the native memory the plans hold must be reported to V8 so that it collects them. Prints
// the peak RSS in MiB.
import { Layout, MaskPlan } from '../../../dist/index.js';

const segs = [];
for (let t = 0; t < 65536; t += 250) segs.push({ kind: 'text', length: 50 }, { kind: 'image', length: 200 });
const layout = Layout.fromSegments(segs);
const count = Number(process.argv[2] ?? 4000);
let bytes = 0;
for (let i = 0; i < count; i++) {
  bytes = MaskPlan.build(layout).bytes;
  if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
}
console.log(`${(process.resourceUsage().maxRSS / 1024).toFixed(0)} ${bytes}`);
