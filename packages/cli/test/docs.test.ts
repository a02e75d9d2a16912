// The docs are part of the contract: every flag and every exit code must be documented.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  FileAccessError,
  InterruptedError,
  InvalidDataError,
  InvalidModelError,
  TrainingError,
  UnsupportedModelError,
  UsageError,
  type PgError,
} from '@pg/core';
import { describe, expect, it } from 'vitest';
import Convert from '../src/commands/convert.js';
import Export from '../src/commands/export.js';
import Finetune from '../src/commands/finetune.js';
import Report from '../src/commands/report.js';
import Sweep from '../src/commands/sweep.js';
import { INTERNAL } from '../src/envelope.js';
import { ROOT } from './support/pg.js';

const doc = (name: string): string => readFileSync(join(ROOT, 'docs', name), 'utf8');

describe('docs/commands.md', () => {
  const commands = doc('commands.md');
  for (const cmd of [Convert, Finetune, Report, Sweep, Export]) {
    it(`documents every flag of pg ${cmd.name.toLowerCase()}`, () => {
      const section = commands.split(/^## /m).find((s) => s.startsWith(`pg ${cmd.name.toLowerCase()}`)) ?? '';
      const own = Object.keys(cmd.flags).filter((f) => !section.includes(`--${f}`));
      expect(own).toEqual([]);
      for (const global of [...Object.keys(cmd.baseFlags), 'json']) expect(commands).toContain(`\`--${global}`);
    });
  }
});

describe('docs/exit-codes.md', () => {
  const table = doc('exit-codes.md');
  const errors: PgError[] = [UsageError, InvalidModelError, UnsupportedModelError, InvalidDataError, FileAccessError, TrainingError, InterruptedError].map(
    (E) => new E('m'),
  );
  it('lists every error class with its exit code and code', () => {
    const missing = [...errors.map((e) => [e.exitCode, e.code] as const), [INTERNAL.status, INTERNAL.code] as const].filter(
      ([exit, code]) => !table.includes(`| ${exit} | \`${code}\``),
    );
    expect(missing).toEqual([]);
  });
});
