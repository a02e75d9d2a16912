import { performance } from 'node:perf_hooks';
import type { Model } from '../graph/index.js';
import { UsageError } from '../errors/index.js';
import type { HostTensor, RunEngine, RunEngineName } from './engine.js';
import { feedInputs, prepareFeed } from './feeds.js';
import { runEngine } from './registry.js';

export interface RunModelOptions {
  /** An engine name (see RUN_ENGINES) or an engine instance. Default 'wasm' (pg's interpreter on tfjs-wasm). */
  engine?: RunEngineName | RunEngine;
  /** Graph outputs to compute, by name; the first graph output by default. */
  outputs?: readonly string[];
}

export interface ModelRun {
  engine: RunEngineName;
  /** The feeds as given to the engine: checked against the declared shapes, in the inputs' dtypes. */
  inputs: Record<string, HostTensor>;
  /** The requested outputs, in the dtypes the model declares. */
  outputs: Record<string, HostTensor>;
  /** Wall time to load the model into the engine (and initialise it), ms. */
  loadMs: number;
  /** Wall time of the run itself, feeds in to results out, ms. */
  elapsedMs: number;
}

/** Checks requested output names against the graph's outputs; none requested means the first. */
export function selectOutputs(model: Model, names: readonly string[] | undefined): string[] {
  const available = model.graph.outputs.map((o) => o.name);
  if (names === undefined || names.length === 0) {
    if (available.length === 0) throw new UsageError('the model declares no outputs', { action: 'Check the model with `pg inspect`.' });
    return [available[0]];
  }
  const unknown = names.filter((n) => !available.includes(n));
  if (unknown.length > 0) {
    throw new UsageError(`--output-name: the model has no output named ${unknown.map((n) => `'${n}'`).join(', ')}.`, {
      action: `The model's outputs are ${available.map((n) => `'${n}'`).join(', ')}.`,
    });
  }
  return [...new Set(names)];
}

/**
 * Runs a model once on host tensors, keyed by input name, with the chosen engine. The feeds are checked
 * against the inputs' declared shapes (an InvalidDataError on mismatch) and converted to their dtypes.
 */
export async function runModel(model: Model, feeds: Readonly<Record<string, HostTensor>>, opts: RunModelOptions = {}): Promise<ModelRun> {
  const outputs = selectOutputs(model, opts.outputs);
  const inputs = feedInputs(model);
  const extra = Object.keys(feeds).filter((k) => !inputs.some((i) => i.name === k));
  if (extra.length > 0) {
    throw new UsageError(`the model has no input named ${extra.map((n) => `'${n}'`).join(', ')}`, {
      action: `The model's inputs are ${inputs.map((i) => `'${i.name}'`).join(', ')}.`,
    });
  }
  const symbols = new Map<string, number>();
  const prepared: Record<string, HostTensor> = {};
  for (const input of inputs) {
    const data = feeds[input.name];
    if (data === undefined) throw new UsageError(`no data for the model input '${input.name}'`, { action: 'Give one array per model input.' });
    prepared[input.name] = prepareFeed(input, data, `input '${input.name}'`, symbols);
  }
  return runPrepared(model, prepared, outputs, opts.engine ?? 'wasm');
}

/** Runs feeds already checked by prepareFeed. */
export async function runPrepared(
  model: Model,
  feeds: Readonly<Record<string, HostTensor>>,
  outputs: readonly string[],
  engineChoice: RunEngineName | RunEngine,
): Promise<ModelRun> {
  const engine = typeof engineChoice === 'string' ? runEngine(engineChoice) : engineChoice;
  const loadStart = performance.now();
  const session = await engine.load(model);
  try {
    const runStart = performance.now();
    const results = await session.run(feeds, outputs);
    const end = performance.now();
    return { engine: engine.name, inputs: { ...feeds }, outputs: results, loadMs: runStart - loadStart, elapsedMs: end - runStart };
  } finally {
    await session.dispose();
  }
}
