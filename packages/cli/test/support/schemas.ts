import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { ROOT } from './pg.js';

export type SchemaName = 'envelope' | 'convert' | 'finetune' | 'report' | 'inspect' | 'run' | 'sweep' | 'export';

const ajv = new Ajv2020({ allErrors: true, strict: true });
const compiled = new Map<SchemaName, ValidateFunction>();

/** The committed schema packages/cli/schemas/<name>.schema.json, compiled once. */
export function validator(name: SchemaName): ValidateFunction {
  let v = compiled.get(name);
  if (v === undefined) {
    const schema = JSON.parse(readFileSync(join(ROOT, 'packages/cli/schemas', `${name}.schema.json`), 'utf8')) as object;
    v = ajv.compile(schema);
    compiled.set(name, v);
  }
  return v;
}

/** Schema errors as readable lines, empty when `value` conforms (so `expect(...).toEqual([])` shows what broke). */
export function schemaErrors(name: SchemaName, value: unknown): string[] {
  const v = validator(name);
  return v(value) ? [] : (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}
