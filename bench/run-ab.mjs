#!/usr/bin/env node
// `pg run` speed of this build against another build of @pg/core (e.g. main's, or a commit exported with
// `git archive` and built), in one process with rounds alternating, so load on a shared machine hits both
// alike; also checks both give the same bits. Same models and inputs as bench/run-throughput.mjs.
//
// Usage (after `pnpm build` here and there):
//   node bench/run-ab.mjs --base /path/to/other/packages/core/dist [--batch 8] [--runs 2] [--rounds 3] [--models ...]
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    batch: { type: 'string', default: '8' },
    runs: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    models: { type: 'string', default: 'resnet18,mobilenet_v2,shufflenet_v2_x1_0' },
  },
});
if (!values.base || !existsSync(join(values.base, 'index.js'))) throw new Error('--base must be a built packages/core/dist folder');
const here = await import('../packages/core/dist/index.js');
const base = await import(pathToFileURL(join(resolve(values.base), 'index.js')).href);
const batch = Number(values.batch);
const runs = Number(values.runs);
const rounds = Number(values.rounds);
const root = fileURLToPath(new URL('..', import.meta.url));
const zoo = process.env.PG_ZOO_DIR ? resolve(process.env.PG_ZOO_DIR) : join(root, '.cache', 'zoo');
const manifest = JSON.parse(readFileSync(join(zoo, 'manifest.json'), 'utf8'));

function input(shape) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = (s / 2 ** 32) * 2 - 1;
  }
  return { dtype: 'float32', shape, data };
}

/** Milliseconds per run (after one warm-up run) and the last result. */
async function time(session, feeds, outputs) {
  let out = await session.run(feeds, outputs);
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) out = await session.run(feeds, outputs);
  return { ms: (performance.now() - t0) / runs, out };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const name of values.models.split(',')) {
  const entry = manifest.models.find((m) => m.name === `${name}-224`);
  const model = await here.readModel(join(zoo, entry.file));
  const feeds = { [model.graph.inputs[0].name]: input([batch, ...entry.input_shape.slice(1)]) };
  const outputs = [model.graph.outputs[0].name];
  const a = await new here.TfjsRunBackend('wasm').load(model);
  const b = await new base.TfjsRunBackend('wasm').load(await base.readModel(join(zoo, entry.file)));
  const ta = [];
  const tb = [];
  let same = true;
  for (let r = 0; r < rounds; r++) {
    const x = await time(a, feeds, outputs);
    const y = await time(b, feeds, outputs);
    ta.push(x.ms);
    tb.push(y.ms);
    const u = x.out[outputs[0]].data;
    const v = y.out[outputs[0]].data;
    same &&= u.length === v.length && u.every((e, i) => Object.is(e, v[i]));
  }
  await a.dispose();
  await b.dispose();
  console.log(`${name.padEnd(20)} this ${median(ta).toFixed(0).padStart(5)} ms/run   base ${median(tb).toFixed(0).padStart(5)} ms/run   speed-up ${(median(tb) / median(ta)).toFixed(2)}x   outputs ${same ? 'bit-identical' : 'DIFFER'}`);
}
