#!/usr/bin/env node
// PG against its baselines on one model (docs/results.md, "PG against its baselines"): converts the float model
// with `pg convert --mode pg|static|seernet`, fine-tunes each the same way (the README's recipe: one epoch,
// --train-weights; the gated ones --target-sparsity 0.85 --final-calibration, the static ones without a target,
// which they cannot have), reports each on the test set against the float model with every cost model, and writes
// one JSON with the commit it ran on. Usage (after pnpm build):
//   nice -n 5 node bench/modes.mjs [--model M.onnx] [--out bench/results/modes-resnet-fmnist.json] [--epochs 1]
//     [--max-steps N] [--limit N] [--work out/modes] [--only id,id] [--jobs N]
//   node bench/modes.mjs --render bench/results/modes-resnet-fmnist.json    (docs/results.md's table from a JSON)
// --max-steps and --limit shorten a trial run (their values are recorded in the JSON). --jobs runs N configurations
// at once (each is deterministic with its seed, so the results do not depend on it; on a shared machine it takes a
// larger share of the cores).
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const rendered = opt('render', undefined);
if (rendered !== undefined) {
  console.log(markdownTable(JSON.parse(readFileSync(rendered, 'utf8'))));
  process.exit(0);
}
const model = opt('model', join(root, 'fixtures/models/resnet-fmnist.onnx'));
const out = opt('out', join(root, 'bench/results/modes-resnet-fmnist.json'));
const epochs = opt('epochs', '1');
const maxSteps = opt('max-steps', undefined);
const limit = opt('limit', undefined);
const work = opt('work', join(root, 'out/modes'));
const only = opt('only', undefined)?.split(',');
const seed = opt('seed', '1');
const jobs = Number(opt('jobs', '1'));

const RECIPE = ['--epochs', epochs, '--train-weights', '--seed', seed, ...(maxSteps ? ['--max-steps', maxSteps] : [])];
const TARGET = ['--target-sparsity', '0.85', '--final-calibration'];
/** The configurations: the paper's PG, uniform quantization, and SeerNet at equal sparsity and at the ReLU boundary. */
const CONFIGS = [
  { id: 'pg-4-2', mode: 'pg', bits: 4, hbits: 2, finetune: TARGET },
  { id: 'seernet-4-2', mode: 'seernet', bits: 4, hbits: 2, finetune: TARGET },
  { id: 'static-4', mode: 'static', bits: 4, finetune: [] },
  { id: 'pg-3-2', mode: 'pg', bits: 3, hbits: 2, finetune: TARGET },
  { id: 'static-3', mode: 'static', bits: 3, finetune: [] },
  { id: 'static-2', mode: 'static', bits: 2, finetune: [] },
  // Thresholds kept at 0 (no target; --lr 1e-9 moves them by at most ~1e-6 in one epoch): SeerNet's own boundary, the following ReLU's zero.
  { id: 'seernet-4-2-relu-boundary', mode: 'seernet', bits: 4, hbits: 2, finetune: ['--lr', '1e-9'] },
].filter((c) => !only || only.includes(c.id));

const run = promisify(execFile);
const pg = async (argv) => {
  const { stdout } = await run(process.execPath, [join(root, 'packages/cli/bin/run.js'), ...argv, '--json'], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 });
  return JSON.parse(stdout).result;
};
const git = (argv) => execFileSync('git', argv, { cwd: root, encoding: 'utf8' }).trim();

mkdirSync(work, { recursive: true });
const points = [];
// The commit is read once, before any run: every point comes from the same code.
const header = {
  bench: 'bench/modes.mjs',
  command: `node bench/modes.mjs ${args.join(' ')}`.trim(),
  commit: git(['rev-parse', 'HEAD']),
  tree_clean: git(['status', '--porcelain', '--untracked-files=no']) === '',
  model: model.startsWith(root) ? model.slice(root.length + 1) : model,
  data: { train: 'fashion-mnist:train', test: 'fashion-mnist:test' },
  recipe: { epochs: Number(epochs), max_steps: maxSteps ? Number(maxSteps) : null, seed: Number(seed), wbits: 8, first_layer_bits: 8, test_limit: limit ? Number(limit) : null },
};
/** Rewritten after every point (atomically), so a stopped run keeps what it measured. */
const save = (complete) => {
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(`${out}.tmp`, `${JSON.stringify({ ...header, date: new Date().toISOString(), complete, points }, null, 2)}\n`);
  renameSync(`${out}.tmp`, out);
};
/** One configuration: convert, fine-tune, report; its point. */
async function measure(c) {
  const gated = join(work, `${c.id}.gated.onnx`);
  const tuned = join(work, `${c.id}.onnx`);
  const convertArgs = ['convert', model, '-o', gated, '--force', '--mode', c.mode, '--bits', String(c.bits), ...(c.hbits ? ['--hbits', String(c.hbits)] : []), '--wbits', '8'];
  const finetuneArgs = ['finetune', gated, '--data', 'fashion-mnist:train', '-o', tuned, '--force', ...RECIPE, ...c.finetune];
  const reportArgs = ['report', tuned, '--data', 'fashion-mnist:test', '--baseline', model, '--cost', 'all', ...(limit ? ['--limit', limit] : [])];
  process.stderr.write(`${c.id}: converting, fine-tuning, reporting...\n`);
  const t0 = Date.now();
  await pg(convertArgs);
  const f = await pg(finetuneArgs);
  const seconds = (Date.now() - t0) / 1000;
  const r = await pg(reportArgs);
  const point = {
    id: c.id,
    mode: r.mode,
    bits: c.bits,
    hbits: c.hbits ?? null,
    accuracy: r.accuracy,
    float_accuracy: r.baseline_accuracy,
    accuracy_drop: r.accuracy_drop,
    sparsity: r.layers.some((l) => l.gated) ? r.sparsity : null,
    sparsity_mac_weighted: r.layers.some((l) => l.gated) ? r.sparsity_mac_weighted : null,
    bavg: r.bavg,
    whole_model: r.whole_model,
    costs: r.costs.map((k) => ({ backend: k.backend, unit: k.unit, total: k.total, ratios: k.ratios })),
    finetune: { steps: f.steps, seconds_with_convert: seconds },
    commands: [convertArgs, finetuneArgs, reportArgs].map((a) => `pg ${a.map((s) => (s.startsWith(root) ? s.slice(root.length + 1) : s)).join(' ')}`),
    samples: r.samples,
  };
  points.push(point);
  // In the order of CONFIGS, whichever finished first.
  points.sort((a, b) => CONFIGS.findIndex((x) => x.id === a.id) - CONFIGS.findIndex((x) => x.id === b.id));
  save(false);
  process.stderr.write(
    `${c.id}: accuracy ${(100 * point.accuracy).toFixed(2)}% (drop ${(100 * point.accuracy_drop).toFixed(2)}), act bits ${point.whole_model.act_bits.toFixed(3)}, ${seconds.toFixed(0)} s\n`,
  );
}

const queue = [...CONFIGS];
await Promise.all(
  Array.from({ length: Math.max(1, jobs) }, async () => {
    for (let c = queue.shift(); c; c = queue.shift()) await measure(c);
  }),
);
save(true);
process.stderr.write(`Wrote ${out}\n`);
console.log(markdownTable({ points }));

/** The docs/results.md table: one row per configuration, whole model first, then each cost model's whole-network figure. */
function markdownTable(r) {
  const backends = r.points[0]?.costs.map((k) => `${k.backend} (${k.unit}/sample)`) ?? [];
  const head = ['mode', 'bits', 'accuracy', 'drop (points)', 'sparsity (gated layers)', 'whole-model act bits', 'bit-serial vs static 4-bit', ...backends];
  const static4 = r.points.find((p) => p.mode === 'static' && p.bits === 4);
  const rows = r.points.map((p) => [
    p.id.includes('relu-boundary') ? `${p.mode} (Δ = 0)` : p.mode,
    p.hbits ? `${p.bits}/${p.hbits}` : String(p.bits),
    `${(100 * p.accuracy).toFixed(2)}%`,
    (100 * p.accuracy_drop).toFixed(2),
    p.sparsity === null ? '-' : p.sparsity.toFixed(3),
    p.whole_model.act_bits.toFixed(2),
    static4 ? `${(p.whole_model.bitops / static4.whole_model.bitops).toFixed(3)}x` : '-',
    ...p.costs.map((k) => (k.unit === 'bitops' ? k.total.toExponential(3) : String(Math.round(k.total)))),
  ]);
  return [head, head.map(() => '---'), ...rows].map((row) => `| ${row.join(' | ')} |`).join('\n');
}
