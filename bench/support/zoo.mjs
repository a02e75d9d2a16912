// What the `pg run` benchmarks on the 224x224 zoo models (bench/run-throughput.mjs, run-profile.mjs, run-ab.mjs)
// share: where the zoo is (the other benches that read the zoo use zooDir too), their common flags, the models
// with one fixed input, and how a loaded session is timed.
// The models come from fixtures/zoo/make_zoo.py --bench. Nothing here imports @pg/core: run-ab.mjs loads two
// builds of it, so the caller passes the build's readModel.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** The repository root, with a trailing slash (this file is bench/support/zoo.mjs). */
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** The folder make_zoo.py writes to: PG_ZOO_DIR, else .cache/zoo at the repository root. */
export function zooDir() {
  return process.env.PG_ZOO_DIR ? resolve(process.env.PG_ZOO_DIR) : join(repoRoot, '.cache', 'zoo');
}

/**
 * The flags the zoo benchmarks share, parsed: --batch (default 8), --runs (default `runs`), --rounds (only when
 * a `rounds` default is given: the scripts that alternate rounds) and --models (comma-separated names without
 * -224), besides the script's own `options`. Unknown flags are refused, as parseArgs does.
 */
export function parseBenchArgs({ runs, rounds, options = {} }) {
  const all = { ...options, batch: { type: 'string', default: '8' }, runs: { type: 'string', default: runs } };
  if (rounds !== undefined) all.rounds = { type: 'string', default: rounds };
  all.models = { type: 'string', default: 'resnet18,mobilenet_v2,shufflenet_v2_x1_0' };
  const { values } = parseArgs({ options: all });
  return {
    values,
    batch: Number(values.batch),
    runs: Number(values.runs),
    rounds: rounds === undefined ? undefined : Number(values.rounds),
    models: values.models.split(','),
  };
}

/** Exports the named models at 224x224 into `dir` with make_zoo.py --bench when any is missing (needs Debian's torch); returns `dir`. */
export function exportMissingZooModels(dir, names) {
  const missing = names.filter((n) => !existsSync(join(dir, `${n}-224.onnx`)));
  if (missing.length === 0) return dir;
  console.log(`exporting ${missing.join(', ')} at 224x224 into ${dir} (fixtures/zoo/make_zoo.py --bench)...`);
  const env = { ...process.env, PG_ZOO_DIR: dir };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const args = [join(repoRoot, 'fixtures/zoo/make_zoo.py'), '--bench', ...missing.flatMap((n) => ['--only', n])];
  const r = spawnSync('/usr/bin/python3', args, { stdio: 'inherit', env });
  if (r.status !== 0) throw new Error('make_zoo.py failed: it needs Debian python3-torchvision and python3-onnx');
  return dir;
}

/** The zoo in `dir` with its manifest.json (per model: file, opset, input shape). */
export function openZoo(dir = zooDir()) {
  if (!existsSync(join(dir, 'manifest.json'))) throw new Error(`no zoo in ${dir}: run /usr/bin/python3 fixtures/zoo/make_zoo.py --bench`);
  return { dir, manifest: JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) };
}

/** A fixed pseudo-random input (the numbers do not matter for speed, but NaN-free and the same for every runtime). */
export function benchInput(shape) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = (s / 2 ** 32) * 2 - 1;
  }
  return { dtype: 'float32', shape, data };
}

/**
 * `<name>-224` of the zoo read with `readModel` (from the @pg/core build under test), with a batch of the fixed
 * input as feeds and its first output's name: { entry, path, model, feeds, outputs }.
 */
export async function loadZooModel(zoo, name, batch, readModel) {
  const entry = zoo.manifest.models.find((m) => m.name === `${name}-224`);
  if (!entry) throw new Error(`${name}-224 is not in ${zoo.dir}/manifest.json: run make_zoo.py --bench`);
  const path = join(zoo.dir, entry.file);
  const model = await readModel(path);
  const feeds = { [model.graph.inputs[0].name]: benchInput([batch, ...entry.input_shape.slice(1)]) };
  return { entry, path, model, feeds, outputs: [model.graph.outputs[0].name] };
}

/** Milliseconds per run of `runs` runs of a loaded session (after one warm-up run outside the timing), and the last outputs. */
export async function timeRuns(session, feeds, outputs, runs) {
  let out = await session.run(feeds, outputs);
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) out = await session.run(feeds, outputs);
  return { ms: (performance.now() - t0) / runs, out };
}

/** The middle value (the upper one of an even count), as the benchmarks report rounds. */
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
