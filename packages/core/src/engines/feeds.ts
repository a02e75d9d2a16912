import { existsSync } from 'node:fs';
import type { Dim, Model, ValueInfo } from '../graph/index.js';
import { InvalidDataError, UnsupportedModelError, UsageError } from '../errors/index.js';
import type { HostTensor } from './engine.js';
import { castHostTensor, hostDtypeOf } from './host-tensor.js';

/** One `--input`: a file, optionally for a named model input. */
export interface InputSpec {
  /** The model input it feeds; unnamed specs feed the remaining inputs in order. */
  name?: string;
  path: string;
}

/** The inputs a caller must feed: graph inputs that are not initializers (old models list weights as inputs). */
export function feedInputs(model: Model): ValueInfo[] {
  return model.graph.inputs.filter((i) => !model.graph.initializers.has(i.name));
}

const inputList = (model: Model): string =>
  feedInputs(model)
    .map((i) => `'${i.name}'`)
    .join(', ') || '(none)';

/**
 * Parses `--input` text: `NAME=FILE` when NAME is an input of the model, `FILE` otherwise. Text with
 * '=' whose prefix is no input name is still a file when such a file exists (a path may contain '='),
 * and otherwise a usage error naming the model's inputs.
 */
export function parseInputSpec(text: string, model: Model): InputSpec {
  const eq = text.indexOf('=');
  if (eq < 0) return { path: text };
  const name = text.slice(0, eq);
  if (feedInputs(model).some((i) => i.name === name)) return { name, path: text.slice(eq + 1) };
  if (existsSync(text)) return { path: text };
  throw new UsageError(`--input ${text}: the model has no input named '${name}'.`, {
    action: `The model's inputs are ${inputList(model)}; give --input NAME=FILE with one of them, or just FILE.`,
  });
}

/**
 * Assigns the specs to the model's inputs: named ones by name, the others in the order of the inputs
 * left. Every input must get exactly one.
 */
export function bindInputs(model: Model, specs: readonly InputSpec[]): Map<string, InputSpec> {
  const inputs = feedInputs(model);
  const bound = new Map<string, InputSpec>();
  for (const spec of specs) {
    if (spec.name === undefined) continue;
    if (!inputs.some((i) => i.name === spec.name)) {
      throw new UsageError(`--input: the model has no input named '${spec.name}'.`, { action: `The model's inputs are ${inputList(model)}.` });
    }
    if (bound.has(spec.name)) throw new UsageError(`--input: input '${spec.name}' is given twice.`, { action: 'Give each input once.' });
    bound.set(spec.name, spec);
  }
  const unnamed = specs.filter((s) => s.name === undefined);
  const open = inputs.filter((i) => !bound.has(i.name));
  if (unnamed.length > open.length) {
    throw new UsageError(`--input: ${specs.length} inputs given, but the model has ${inputs.length} (${inputList(model)}).`, {
      action: 'Give one --input per model input.',
    });
  }
  unnamed.forEach((spec, k) => bound.set(open[k].name, spec));
  const missing = inputs.filter((i) => !bound.has(i.name));
  if (missing.length > 0) {
    throw new UsageError(`--input: no data for the model input(s) ${missing.map((i) => `'${i.name}'`).join(', ')}.`, {
      action: `Give one --input per model input (${inputList(model)}); use --input NAME=FILE to say which is which.`,
    });
  }
  return bound;
}

/**
 * Checks data against a model input's declared shape (fixed dimensions must match; a symbolic one, like
 * the batch 'N', must have the same size in every input) and converts it to the input's dtype.
 * `symbols` collects the sizes of symbolic dimensions across inputs.
 */
export function prepareFeed(input: ValueInfo, data: HostTensor, what: string, symbols: Map<string, number>): HostTensor {
  const dtype = hostDtypeOf(input.dtype);
  if (dtype === undefined) {
    throw new UnsupportedModelError(`input '${input.name}' is ${input.dtype}; pg run feeds float32, float64, int64, int32, int16, int8, uint8 and bool inputs.`, {
      action: 'Run this model with its own runtime.',
    });
  }
  const want = input.shape;
  if (want !== undefined) {
    const mismatch = (why: string): never => {
      throw new InvalidDataError(`${what} has shape ${formatShape(data.shape)}, but the model's input '${input.name}' expects ${formatShape(want)}: ${why}.`, {
        action: 'Give an array of the shape the model declares (see it with `pg inspect MODEL`).',
      });
    };
    if (want.length !== data.shape.length) mismatch(`${data.shape.length} dimension(s) instead of ${want.length}`);
    want.forEach((d, i) => {
      const got = data.shape[i];
      if (typeof d === 'number' && d > 0 && d !== got) mismatch(`dimension ${i} is ${got}, not ${d}`);
      if (typeof d === 'string' && d !== '') {
        const seen = symbols.get(d);
        if (seen !== undefined && seen !== got) mismatch(`dimension ${i} ('${d}') is ${got}, but another input has ${d} = ${seen}`);
        symbols.set(d, got);
      }
    });
  }
  return castHostTensor(data, dtype, what);
}

/** `[N, 1, 28, 28]`; unknown dimensions as '?'. */
export function formatShape(shape: readonly Dim[]): string {
  return `[${shape.map((d) => d ?? '?').join(', ')}]`;
}
