import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { ROOT } from './pg.js';

export type SchemaName = 'envelope' | 'convert' | 'finetune' | 'report' | 'inspect' | 'run' | 'sweep' | 'export';

const DIR = join(ROOT, 'packages/cli/schemas');
const ajv = new Ajv2020({ allErrors: true, strict: true });
// Every schema is known by its $id, so one can refer to another's definitions (sweep points to the report's whole_model).
for (const file of readdirSync(DIR).filter((f) => f.endsWith('.schema.json'))) ajv.addSchema(JSON.parse(readFileSync(join(DIR, file), 'utf8')) as object);

/** The committed schema packages/cli/schemas/<name>.schema.json, compiled once (ajv keeps it). */
export function validator(name: SchemaName): ValidateFunction {
  const v = ajv.getSchema(`urn:precisiongating:pg:schema:${name}`);
  if (!v) throw new Error(`no schema urn:precisiongating:pg:schema:${name} in ${DIR}`);
  return v;
}

/** Schema errors as readable lines, empty when `value` conforms (so `expect(...).toEqual([])` shows what broke). */
export function schemaErrors(name: SchemaName, value: unknown): string[] {
  const v = validator(name);
  return v(value) ? [] : (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}
