import { createHash } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import type { Dataset } from '../data/index.js';
import type { Model } from '../graph/index.js';
import { InvalidDataError, UsageError } from '../errors/index.js';
import { readFileBytes, writeFilesAtomic } from '../io/index.js';
import type { FinetuneEvaluation, FinetuneOptions } from './options.js';
import type { AdamState } from './tfjs-adam.js';

/** Values of one tensor, row-major. */
export interface TensorValues {
  dims: number[];
  values: Float32Array;
}

/** The options that decide the result; the time budget, checkpoint period and worker count do not. */
export type CheckpointOptions = Omit<FinetuneOptions, 'timeBudgetMs' | 'checkpointEvery' | 'workers'>;

/** Everything a fine-tune needs to continue where it stopped, beyond the gated model it started from. */
export interface FinetuneCheckpoint {
  /** The model the run started from: its path (informative) and a hash of its graph and tensors (checked). */
  model: { path: string | null; fingerprint: string };
  data: { name: string; size: number };
  evalData: { name: string; size: number } | null;
  options: CheckpointOptions;
  /** Steps done; the epoch being trained and how many of its batches were consumed. */
  position: { step: number; epoch: number; batch: number; totalSteps: number };
  calibrated: { thresholds: boolean; act_scales: boolean };
  /** Metadata of the calibrated model (e.g. pg.act_scale after scale calibration). */
  metadata: Record<string, string>;
  /** Current values of every trained tensor (thresholds, scales, and weights with trainWeights). */
  params: Map<string, TensorValues>;
  optimizers: { gate: AdamState; weights: AdamState | null };
  evaluations: FinetuneEvaluation[];
  /** The best evaluation's tensors so far (keepBest). */
  best: { step: number; params: Map<string, TensorValues> } | null;
  last: { loss: number | null; sparsity: number | null };
}

export const CHECKPOINT_FORMAT = 'pg-finetune-checkpoint';
export const CHECKPOINT_VERSION = 1;

/** The two files of a checkpoint: `BASE.json` (state) and `BASE.bin` (float32 tensors). */
export function checkpointFiles(path: string): { json: string; bin: string } {
  const base = path.endsWith('.json') || path.endsWith('.bin') ? path.slice(0, path.lastIndexOf('.')) : path;
  return { json: `${base}.json`, bin: `${base}.bin` };
}

/** Where `pg finetune -o OUT` puts its checkpoint: OUT.ckpt.json and OUT.ckpt.bin. */
export function checkpointPathFor(output: string): string {
  return `${output}.ckpt.json`;
}

interface TensorEntry {
  /** 'param', 'best', 'gate.m', 'gate.v', 'weights.m', 'weights.v'. */
  role: string;
  name: string;
  dims: number[];
  /** Byte offset in the .bin file; float32 little-endian. */
  offset: number;
  length: number;
}

interface CheckpointJson {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  created: string;
  bin: { file: string; bytes: number; sha256: string };
  model: FinetuneCheckpoint['model'];
  data: FinetuneCheckpoint['data'];
  eval_data: FinetuneCheckpoint['evalData'];
  options: CheckpointOptions;
  position: FinetuneCheckpoint['position'];
  calibrated: FinetuneCheckpoint['calibrated'];
  metadata: Record<string, string>;
  optimizers: Record<'gate' | 'weights', Omit<AdamState, 'm' | 'v'> | null>;
  evaluations: FinetuneEvaluation[];
  best_step: number | null;
  last: FinetuneCheckpoint['last'];
  tensors: TensorEntry[];
}

/**
 * Writes a checkpoint atomically: both files go to temp files first and are renamed, the .bin before the
 * .json; the .json holds the .bin's SHA-256, so a .json never pairs with a .bin it was not written with.
 */
export async function writeCheckpoint(path: string, c: FinetuneCheckpoint): Promise<void> {
  const files = checkpointFiles(path);
  const chunks: Uint8Array[] = [];
  const tensors: TensorEntry[] = [];
  let offset = 0;
  const add = (role: string, name: string, dims: number[], values: Float32Array) => {
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    tensors.push({ role, name, dims, offset, length: values.length });
    chunks.push(bytes);
    offset += bytes.byteLength;
  };
  for (const [name, t] of c.params) add('param', name, t.dims, t.values);
  if (c.best) for (const [name, t] of c.best.params) add('best', name, t.dims, t.values);
  for (const key of ['gate', 'weights'] as const) {
    const s = c.optimizers[key];
    if (!s) continue;
    const dimsOf = (n: string) => c.params.get(n)?.dims ?? [];
    s.m.forEach((m, i) => add(`${key}.m`, s.names[i], dimsOf(s.names[i]), m));
    s.v.forEach((v, i) => add(`${key}.v`, s.names[i], dimsOf(s.names[i]), v));
  }
  const hash = createHash('sha256');
  for (const ch of chunks) hash.update(ch);
  const strip = (s: AdamState | null) => (s ? { names: s.names, iterations: s.iterations, accBeta1: s.accBeta1, accBeta2: s.accBeta2 } : null);
  const json: CheckpointJson = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    created: new Date().toISOString(),
    bin: { file: basename(files.bin), bytes: offset, sha256: hash.digest('hex') },
    model: c.model,
    data: c.data,
    eval_data: c.evalData,
    options: c.options,
    position: c.position,
    calibrated: c.calibrated,
    metadata: c.metadata,
    optimizers: { gate: strip(c.optimizers.gate), weights: strip(c.optimizers.weights) },
    evaluations: c.evaluations,
    best_step: c.best?.step ?? null,
    last: c.last,
    tensors,
  };
  await writeFilesAtomic([
    { path: files.bin, data: chunks },
    { path: files.json, data: `${JSON.stringify(json, null, 1)}\n` },
  ]);
}

/** Reads a checkpoint written by writeCheckpoint (give the .json, the .bin, or their common base). */
export async function readCheckpoint(path: string): Promise<FinetuneCheckpoint> {
  const files = checkpointFiles(path);
  const bad = (why: string) =>
    new InvalidDataError(`${files.json} is not a usable pg checkpoint: ${why}.`, {
      action: 'Give the .json a pg finetune interruption wrote (OUT.ckpt.json), or start again without --resume.',
    });
  let json: CheckpointJson;
  try {
    json = JSON.parse(new TextDecoder().decode(await readFileBytes(files.json))) as CheckpointJson;
  } catch (e) {
    if (e instanceof SyntaxError) throw bad('not JSON');
    throw e;
  }
  if (json?.format !== CHECKPOINT_FORMAT) throw bad(`no "format": "${CHECKPOINT_FORMAT}"`);
  if (json.version !== CHECKPOINT_VERSION) throw bad(`version ${String(json.version)}, this pg reads version ${CHECKPOINT_VERSION}`);
  const binPath = join(dirname(files.json), json.bin.file);
  const bin = await readFileBytes(binPath);
  if (bin.byteLength !== json.bin.bytes || createHash('sha256').update(bin).digest('hex') !== json.bin.sha256) {
    throw bad(`${binPath} is not the tensor file written with it (size or SHA-256 differ)`);
  }
  const params = new Map<string, TensorValues>();
  const best = new Map<string, TensorValues>();
  const moments: Record<string, Float32Array[]> = { 'gate.m': [], 'gate.v': [], 'weights.m': [], 'weights.v': [] };
  for (const t of json.tensors) {
    if (t.offset + t.length * 4 > bin.byteLength) throw bad(`tensor ${t.name} lies beyond the end of ${binPath}`);
    // Copy: the file's bytes need not be 4-byte aligned (and a Buffer's .buffer is a shared pool).
    const values = new Float32Array(t.length);
    new Uint8Array(values.buffer).set(bin.subarray(t.offset, t.offset + t.length * 4));
    if (t.role === 'param') params.set(t.name, { dims: t.dims, values });
    else if (t.role === 'best') best.set(t.name, { dims: t.dims, values });
    else if (t.role in moments) moments[t.role].push(values);
    else throw bad(`unknown tensor role '${t.role}'`);
  }
  const adam = (key: 'gate' | 'weights'): AdamState | null => {
    const s = json.optimizers[key];
    return s ? { ...s, m: moments[`${key}.m`], v: moments[`${key}.v`] } : null;
  };
  return {
    model: json.model,
    data: json.data,
    evalData: json.eval_data,
    options: json.options,
    position: json.position,
    calibrated: json.calibrated,
    metadata: json.metadata,
    params,
    optimizers: { gate: adam('gate')!, weights: adam('weights') },
    evaluations: json.evaluations,
    best: json.best_step === null ? null : { step: json.best_step, params: best },
    last: json.last,
  };
}

/** The options that must be the same for a resumed run to continue the interrupted one. */
export function checkpointOptions(opts: FinetuneOptions): CheckpointOptions {
  const { timeBudgetMs: _t, checkpointEvery: _c, workers: _w, ...rest } = opts;
  return rest;
}

/**
 * Refuses a checkpoint that would not continue this run: another model, other data, or other options
 * (listed, so the user can fix the command line).
 */
export function checkResumable(c: FinetuneCheckpoint, model: Model, data: Dataset, evalData: Dataset | undefined, opts: FinetuneOptions, where: string): void {
  const problems: string[] = [];
  if (c.model.fingerprint !== modelFingerprint(model)) {
    problems.push(`it was made from another model (${c.model.path ?? 'unnamed'}), not ${model.sourcePath ?? 'the one given'}`);
  }
  if (c.data.name !== data.name || c.data.size !== data.size) problems.push(`it trained on ${c.data.name} (${c.data.size} samples), not ${data.name} (${data.size})`);
  const ev = evalData ? { name: evalData.name, size: evalData.size } : null;
  if (JSON.stringify(c.evalData) !== JSON.stringify(ev)) problems.push(`it evaluated on ${c.evalData?.name ?? 'nothing'}, not ${ev?.name ?? 'nothing'}`);
  const now = checkpointOptions(opts) as unknown as Record<string, unknown>;
  const then = c.options as unknown as Record<string, unknown>;
  const differing = [...new Set([...Object.keys(now), ...Object.keys(then)])].filter((k) => JSON.stringify(now[k]) !== JSON.stringify(then[k]));
  if (differing.length) {
    problems.push(`options differ: ${differing.map((k) => `${k} ${JSON.stringify(then[k]) ?? 'unset'} in the checkpoint, ${JSON.stringify(now[k]) ?? 'unset'} now`).join('; ')}`);
  }
  if (problems.length) {
    throw new UsageError(`Cannot resume from ${where}: ${problems.join('; ')}.`, {
      action: 'Resume with the model, data and flags of the interrupted run (its checkpoint .json lists them), or start again without --resume.',
    });
  }
}

/**
 * SHA-256 over what the graph computes with: nodes (types, wiring, scalar and list attributes such as
 * bits/hbits) and initializers (names, shapes, bytes).
 */
export function modelFingerprint(model: Model): string {
  const hash = createHash('sha256');
  for (const n of model.graph.nodes) {
    const attrs = Object.entries(n.attributes)
      .filter(([, a]) => a.type !== 'tensor' && a.type !== 'graph')
      .sort(([a], [b]) => (a < b ? -1 : 1));
    hash.update(JSON.stringify([n.domain, n.opType, n.name, n.inputs, n.outputs, attrs]));
  }
  const names = [...model.graph.initializers.keys()].sort();
  for (const name of names) {
    const t = model.graph.initializers.get(name)!;
    hash.update(JSON.stringify([name, t.dtype, t.dims]));
    const d = t.data();
    if (ArrayBuffer.isView(d)) hash.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    else hash.update(JSON.stringify(d));
  }
  return hash.digest('hex');
}
