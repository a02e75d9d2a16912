// The docs are part of the contract: every command, every flag and every exit code must be documented.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileAccessError, InterruptedError, InvalidDataError, InvalidModelError, ShardError, TrainingError, UnsupportedModelError, UsageError, type PgError } from '@pg/core';
import { exportFormatNames } from '@pg/exporters';
import { describe, expect, it } from 'vitest';
import { INTERNAL } from '../src/envelope.js';
import { pgCommands, sourceCommandIds, spokenId, visibleFlags } from './support/commands.js';
import { ROOT } from './support/pg.js';

const doc = (name: string): string => readFileSync(join(ROOT, 'docs', name), 'utf8');
const commands = await pgCommands();

describe('the command list', () => {
  it('is what src/commands holds (so the built folder is not stale, and the loops below cover every command)', () => {
    expect(commands.map((c) => c.id)).toEqual(sourceCommandIds());
  });
  for (const cmd of commands) {
    it(`pg ${spokenId(cmd.id)} has a JSON schema for its --json result`, () => {
      expect(existsSync(join(ROOT, 'packages/cli/schemas', `${cmd.id.replaceAll(':', '-')}.schema.json`))).toBe(true);
    });
  }
});

describe('docs/commands.md', () => {
  const text = doc('commands.md');
  for (const cmd of commands) {
    it(`documents pg ${spokenId(cmd.id)} and every flag it takes`, () => {
      const section = text.split(/^## /m).find((s) => s.startsWith(`pg ${spokenId(cmd.id)}\n`)) ?? '';
      expect(section, `no '## pg ${spokenId(cmd.id)}' section`).not.toBe('');
      const { own, global } = visibleFlags(cmd);
      expect(own.filter((f) => !section.includes(`--${f}`))).toEqual([]);
      const globals = text.split(/^## /m).find((s) => s.startsWith('Global flags')) ?? '';
      expect(global.filter((f) => !globals.includes(`\`--${f}`))).toEqual([]);
    });
  }
});

describe('export formats', () => {
  it('the export schema and the pg export section of docs/commands.md name every registered format', () => {
    const schema = JSON.parse(readFileSync(join(ROOT, 'packages/cli/schemas/export.schema.json'), 'utf8')) as { properties: { format: { enum: string[] } } };
    expect(schema.properties.format.enum).toEqual(exportFormatNames());
    const section =
      doc('commands.md')
        .split(/^## /m)
        .find((s) => s.startsWith('pg export\n')) ?? '';
    expect(exportFormatNames().filter((name) => !section.includes(`| \`${name}\` |`))).toEqual([]);
  });
});

describe('docs/exit-codes.md', () => {
  const table = doc('exit-codes.md');
  const errors: PgError[] = [UsageError, InvalidModelError, UnsupportedModelError, InvalidDataError, FileAccessError, TrainingError, ShardError, InterruptedError].map(
    (E) => new E('m'),
  );
  it('lists every error class with its exit code and code', () => {
    const missing = [...errors.map((e) => [e.exitCode, e.code] as const), [INTERNAL.status, INTERNAL.code] as const].filter(
      ([exit, code]) => !table.includes(`| ${exit} | \`${code}\``),
    );
    expect(missing).toEqual([]);
  });
});
