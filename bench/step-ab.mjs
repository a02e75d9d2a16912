#!/usr/bin/env node
// The fine-tuning step of this build against another build's (e.g. the commit before a change), each
// measurement in its own process (bench/support/step-child.mjs), rounds alternating so load on a shared machine
// hits both alike. Per model it times: the other build's default placement (`base`), this build's default, and
// this build's --no-gate-residual (`plain`), and prints this/base (how the step a user gets changed between the
// builds) and this/plain (what gating the residual sums costs within this build), per round and their medians,
// for the median step's wall time and the process's CPU time. Models: the bundled ResNet (Fashion-MNIST, batch
// 128) and torchvision's at 224x224 from the zoo (random data, --zoo-batch).
// Usage (after `pnpm build` here and in the other checkout, e.g.
//   git worktree add --detach /tmp/pg-base f7c6270 && cd /tmp/pg-base && pnpm install --offline --frozen-lockfile && pnpm build):
//   node bench/step-ab.mjs --base /tmp/pg-base/packages/core/dist [--models bundled,resnet18] [--rounds 5]
//        [--steps 12] [--zoo-batch 16] [--zoo-steps 4] [--workers N]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './support/pg-step.mjs';
import { zooDir } from './support/zoo.mjs';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    models: { type: 'string', default: 'bundled,resnet18' },
    rounds: { type: 'string', default: '5' },
    steps: { type: 'string', default: '12' },
    'zoo-batch': { type: 'string', default: '16' },
    'zoo-steps': { type: 'string', default: '4' },
    workers: { type: 'string' },
  },
});
const here = fileURLToPath(new URL('../packages/core/dist', import.meta.url));
if (!values.base || !existsSync(join(values.base, 'internal.js'))) throw new Error("--base must be another checkout's built packages/core/dist folder");
const base = resolve(values.base);
const child = fileURLToPath(new URL('./support/step-child.mjs', import.meta.url));

function measure(dist, placement, model) {
  const zoo = model !== 'bundled';
  const args = [child, '--dist', dist, '--placement', placement, '--model', model];
  args.push('--batch', zoo ? values['zoo-batch'] : '128', '--steps', zoo ? values['zoo-steps'] : values.steps, '--warmup', zoo ? '1' : '3');
  if (values.workers) args.push('--workers', values.workers);
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${model} ${placement} (${dist}) failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const rows = [];
for (const model of values.models.split(',')) {
  if (model !== 'bundled' && !existsSync(join(zooDir(), `${model}-224.onnx`))) {
    console.log(`${model}: skipped (no ${join(zooDir(), `${model}-224.onnx`)}: /usr/bin/python3 fixtures/zoo/make_zoo.py --bench --only ${model})`);
    continue;
  }
  const ratios = { base: [], plain: [], baseCpu: [], plainCpu: [] };
  for (let round = 1; round <= Number(values.rounds); round++) {
    const order = round % 2 ? ['base', 'this', 'plain'] : ['plain', 'this', 'base'];
    const t = {};
    for (const side of order) t[side] = side === 'base' ? measure(base, 'default', model) : measure(here, side === 'plain' ? 'plain' : 'default', model);
    const r = { base: t.this.step_ms_median / t.base.step_ms_median, plain: t.this.step_ms_median / t.plain.step_ms_median };
    const c = { base: t.this.cpu_ms_median / t.base.cpu_ms_median, plain: t.this.cpu_ms_median / t.plain.cpu_ms_median };
    ratios.base.push(r.base);
    ratios.plain.push(r.plain);
    ratios.baseCpu.push(c.base);
    ratios.plainCpu.push(c.plain);
    const ms = (x) => `${x.step_ms_median.toFixed(1)} ms (CPU ${x.cpu_ms_median.toFixed(1)}, ${x.gated} gated)`;
    console.log(
      `${model} round ${round}: base ${ms(t.base)}; this ${ms(t.this)}; plain ${ms(t.plain)}; this/base ${r.base.toFixed(3)}x (CPU ${c.base.toFixed(3)}x); this/plain ${r.plain.toFixed(3)}x (CPU ${c.plain.toFixed(3)}x)`,
    );
    rows.push({ model, round, ...t, this_over_base: r.base, this_over_plain: r.plain, cpu_this_over_base: c.base, cpu_this_over_plain: c.plain });
  }
  const list = (v) => v.map((x) => x.toFixed(2)).join(', ');
  console.log(
    `${model} median this/base ${median(ratios.base).toFixed(2)}x (rounds ${list(ratios.base)}), CPU ${median(ratios.baseCpu).toFixed(2)}x (rounds ${list(ratios.baseCpu)})`,
  );
  console.log(
    `${model} median this/plain ${median(ratios.plain).toFixed(2)}x (rounds ${list(ratios.plain)}), CPU ${median(ratios.plainCpu).toFixed(2)}x (rounds ${list(ratios.plainCpu)})`,
  );
}
console.log(JSON.stringify(rows));
