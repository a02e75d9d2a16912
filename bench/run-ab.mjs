#!/usr/bin/env node
// `pg run` speed of this build against another build of @pg/core (e.g. main's, or a commit exported with
// `git archive` and built), in one process with rounds alternating, so load on a shared machine hits both
// alike; also checks both give the same bits. Same models and inputs as bench/run-throughput.mjs.
//
// Usage (after `pnpm build` here and there):
//   node bench/run-ab.mjs --base /path/to/other/packages/core/dist [--batch 8] [--runs 2] [--rounds 3] [--models ...]
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadZooModel, median, openZoo, parseBenchArgs, timeRuns } from './support/zoo.mjs';

const { values, batch, runs, rounds, models } = parseBenchArgs({ runs: '2', rounds: '3', options: { base: { type: 'string' } } });
if (!values.base || !existsSync(join(values.base, 'index.js'))) throw new Error('--base must be a built packages/core/dist folder');
const here = await import('../packages/core/dist/internal.js');
// A build from before @pg/core/internal existed has everything in index.js.
const baseEntry = existsSync(join(values.base, 'internal.js')) ? 'internal.js' : 'index.js';
const base = await import(pathToFileURL(join(resolve(values.base), baseEntry)).href);
const zoo = openZoo();

for (const name of models) {
  const { path, model, feeds, outputs } = await loadZooModel(zoo, name, batch, here.readModel);
  const a = await new here.InterpreterEngine('wasm').load(model);
  // A build from before the engines/ rename calls the engine TfjsRunBackend.
  const BaseEngine = base.InterpreterEngine ?? base.TfjsRunBackend;
  const b = await new BaseEngine('wasm').load(await base.readModel(path));
  const ta = [];
  const tb = [];
  let same = true;
  for (let r = 0; r < rounds; r++) {
    const x = await timeRuns(a, feeds, outputs, runs);
    const y = await timeRuns(b, feeds, outputs, runs);
    ta.push(x.ms);
    tb.push(y.ms);
    const u = x.out[outputs[0]].data;
    const v = y.out[outputs[0]].data;
    same &&= u.length === v.length && u.every((e, i) => Object.is(e, v[i]));
  }
  await a.dispose();
  await b.dispose();
  console.log(
    `${name.padEnd(20)} this ${median(ta).toFixed(0).padStart(5)} ms/run   base ${median(tb).toFixed(0).padStart(5)} ms/run   speed-up ${(median(tb) / median(ta)).toFixed(2)}x   outputs ${same ? 'bit-identical' : 'DIFFER'}`,
  );
}
