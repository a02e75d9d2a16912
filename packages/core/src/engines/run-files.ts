import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeNpy, readNpyFile } from '../data/npy.js';
import type { Model } from '../graph/index.js';
import { UsageError } from '../errors/index.js';
import { makeFolder, writeFilesAtomic } from '../io/index.js';
import type { HostTensor, RunEngine, RunEngineName } from './engine.js';
import { bindInputs, feedInputs, prepareFeed, type InputSpec } from './feeds.js';
import { runPrepared, selectOutputs } from './run-model.js';

export interface RunFilesOptions {
  /** One per model input; unnamed ones feed the inputs not named, in order. */
  inputs: readonly InputSpec[];
  /** The .npy file for a single output, or a folder (one `<output name>.npy` per output). */
  output: string;
  /** Graph outputs to write; the first graph output by default. */
  outputNames?: readonly string[];
  /** The engine (default 'wasm': pg's interpreter on tfjs-wasm). */
  engine?: RunEngineName | RunEngine;
}

/** An input or output of a `pg run`. */
export interface RunTensorJson {
  name: string;
  /** The .npy file read or written. */
  file: string;
  /** The dtype the model received or produced. */
  dtype: string;
  shape: number[];
}

export interface RunInputJson extends RunTensorJson {
  /** The dtype stored in the file, when it was converted to `dtype`. */
  file_dtype: string;
}

/** `pg run` result (schemas/run.schema.json). */
export interface RunResult {
  model: string;
  /** What ran the model; `pg run --json` replaces it with `runtime` and `backend`. */
  engine: RunEngineName;
  inputs: RunInputJson[];
  outputs: RunTensorJson[];
  /** Loading the model into the engine, ms. */
  load_ms: number;
  /** The run itself, ms. */
  elapsed_ms: number;
}

/**
 * `pg run`: reads the inputs from .npy files, runs the model once on the chosen engine, and writes the
 * requested outputs as .npy files, atomically (all of them or, on failure, none).
 */
export async function runModelOnFiles(model: Model, opts: RunFilesOptions): Promise<RunResult> {
  const bound = bindInputs(model, opts.inputs);
  const outputs = selectOutputs(model, opts.outputNames);
  const { files: targets, folder } = await outputFiles(opts.output, outputs);

  const symbols = new Map<string, number>();
  const feeds: Record<string, HostTensor> = {};
  const inputs: RunInputJson[] = [];
  for (const input of feedInputs(model)) {
    const file = bound.get(input.name)!.path;
    const data = await readNpyFile(file);
    const feed = prepareFeed(input, data, file, symbols);
    feeds[input.name] = feed;
    inputs.push({ name: input.name, file, dtype: feed.dtype, shape: [...feed.shape], file_dtype: data.dtype });
  }

  const run = await runPrepared(model, feeds, outputs, opts.engine ?? 'wasm');
  if (folder !== undefined) await makeFolder(folder);
  await writeFilesAtomic(outputs.map((name, k) => ({ path: targets[k], data: encodeNpy(run.outputs[name]) })));
  return {
    model: model.sourcePath ?? '',
    engine: run.engine,
    inputs,
    outputs: outputs.map((name, k) => ({ name, file: targets[k], dtype: run.outputs[name].dtype, shape: [...run.outputs[name].shape] })),
    load_ms: run.loadMs,
    elapsed_ms: run.elapsedMs,
  };
}

/**
 * Where each output goes: `output` itself for one output, unless it is a folder; for several outputs (or
 * a folder) `<output>/<name>.npy`, with the folder to create after the run. Checked before running, so a
 * bad path fails fast.
 */
async function outputFiles(output: string, names: readonly string[]): Promise<{ files: string[]; folder?: string }> {
  const existing = await stat(output).catch(() => undefined);
  const isDir = existing?.isDirectory() ?? /[\\/]$/.test(output);
  if (names.length === 1 && !isDir) return { files: [output] };
  if (existing !== undefined && !existing.isDirectory()) {
    throw new UsageError(`-o ${output} is a file, but ${names.length} outputs need a folder.`, {
      action: 'Give a folder for -o (it is created if missing); each output is written to <folder>/<output name>.npy.',
    });
  }
  const used = new Set<string>();
  const files = names.map((name) => {
    const base = npyFileName(name);
    let file = `${base}.npy`;
    for (let k = 2; used.has(file); k++) file = `${base}_${k}.npy`;
    used.add(file);
    return join(output, file);
  });
  return { files, folder: existing === undefined ? output : undefined };
}

/** A file name for an output name: characters other than letters, digits, '.', '_' and '-' become '_'. */
export function npyFileName(outputName: string): string {
  const safe = outputName.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return safe === '' ? 'output' : safe;
}
