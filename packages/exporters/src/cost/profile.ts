import { fileURLToPath } from 'node:url';
import { UsageError, readFileBytes } from '@pg/core';
import type { CostModel, ParameterSpec, ParameterValue, Parameters } from './cost-model.js';

/**
 * A device profile: which cost model it parameterises and the values of that model's parameters.
 * Users copy a bundled one (packages/exporters/profiles/<model>.json), edit it and pass it with --profile.
 */
export interface Profile {
  model: string;
  description: string;
  parameters: Parameters;
  /** Where it came from: 'bundled:<model>' or the file path. */
  source: string;
}

const TOP_LEVEL = new Set(['model', 'description', 'parameters']);

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : JSON.stringify(v);
}

function checkValue(file: string, field: string, spec: ParameterSpec, v: unknown): ParameterValue {
  const fail = (must: string) =>
    new UsageError(`${file}: parameters.${field} must be ${must}, got ${describe(v)}`, {
      action: `fix parameters.${field} (${spec.doc}); docs/cost-models.md lists every parameter`,
    });
  if (spec.kind === 'bit-table') {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.keys(v).length === 0) throw fail('an object of positive numbers keyed by bit width, e.g. {"8": 2048}');
    for (const [k, x] of Object.entries(v)) {
      if (!/^[1-9]\d*$/.test(k))
        throw new UsageError(`${file}: parameters.${field} has key "${k}", which is no bit width`, { action: `key parameters.${field} by bit widths such as "4", "8", "16"` });
      if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0)
        throw new UsageError(`${file}: parameters.${field}["${k}"] must be a positive number, got ${describe(x)}`, { action: `fix parameters.${field} (${spec.doc})` });
    }
    return v as Record<string, number>;
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw fail(spec.kind === 'integer' ? 'an integer' : 'a positive number');
  if (spec.kind === 'integer') {
    const range = spec.max === undefined ? `>= ${spec.min}` : `from ${spec.min} to ${spec.max}`;
    if (!Number.isInteger(v) || v < spec.min || (spec.max !== undefined && v > spec.max)) throw fail(`an integer ${range}`);
  } else if (v <= 0 || (spec.max !== undefined && v > spec.max)) {
    throw fail(spec.max === undefined ? 'a positive number' : `a number in (0, ${spec.max}]`);
  }
  return v;
}

/** Checks a parsed profile against the cost models; every error names the file and the field. */
export function validateProfile(raw: unknown, file: string, models: ReadonlyMap<string, CostModel>): Profile {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new UsageError(`${file}: a device profile must be a JSON object, got ${describe(raw)}`, { action: 'start from a bundled profile in packages/exporters/profiles/' });
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!TOP_LEVEL.has(k)) throw new UsageError(`${file}: unknown field "${k}"`, { action: `a profile has the fields ${[...TOP_LEVEL].join(', ')}` });
  const model = typeof o.model === 'string' ? models.get(o.model) : undefined;
  if (!model) throw new UsageError(`${file}: field "model" must name a cost model, got ${describe(o.model)}`, { action: `use one of ${[...models.keys()].join(', ')}` });
  if (o.description !== undefined && typeof o.description !== 'string')
    throw new UsageError(`${file}: field "description" must be a string, got ${describe(o.description)}`, { action: 'write the description as a string, or leave it out' });
  const params = o.parameters;
  if (typeof params !== 'object' || params === null || Array.isArray(params))
    throw new UsageError(`${file}: field "parameters" must be an object, got ${describe(params)}`, {
      action: `give the ${model.name} parameters: ${Object.keys(model.parameters).join(', ')}`,
    });
  const given = params as Record<string, unknown>;
  const specs = model.parameters as Record<string, ParameterSpec>;
  for (const k of Object.keys(given)) {
    if (!(k in specs))
      throw new UsageError(`${file}: unknown parameter "parameters.${k}" for the ${model.name} model`, {
        action: `the ${model.name} parameters are ${Object.keys(specs).join(', ')}`,
      });
  }
  const parameters: Parameters = {};
  for (const [k, spec] of Object.entries(specs)) {
    if (!(k in given))
      throw new UsageError(`${file}: missing parameter "parameters.${k}" (${spec.doc})`, {
        action: `add parameters.${k}; the bundled packages/exporters/profiles/${model.name}.json has a default`,
      });
    parameters[k] = checkValue(file, k, spec, given[k]);
  }
  return { model: model.name, description: (o.description as string | undefined) ?? '', parameters, source: file };
}

/** Reads and validates a profile file (FileAccessError if unreadable, UsageError naming the field if invalid). */
export async function readProfile(path: string, models: ReadonlyMap<string, CostModel>, source = path): Promise<Profile> {
  const text = new TextDecoder().decode(await readFileBytes(path));
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${path}: not valid JSON (${(e as Error).message})`, { action: 'fix the JSON syntax of the profile', cause: e });
  }
  return { ...validateProfile(raw, path, models), source };
}

/** The bundled default profile of a model: packages/exporters/profiles/<model>.json (same place from src/ and dist/). */
export function bundledProfilePath(model: string): string {
  return fileURLToPath(new URL(`../../profiles/${model}.json`, import.meta.url));
}
