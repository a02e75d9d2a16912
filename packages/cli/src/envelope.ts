import { stripVTControlCharacters } from 'node:util';
import { isPgError, UsageError } from '@pg/core';

/**
 * The `--json` contract (Salesforce CLI style): every run prints exactly one JSON document on stdout.
 * Success: `{status: 0, result, warnings}` (status 10: complete, but a --fail-if gate failed). Failure: `{status: <exit code>, name, code, message, action, warnings}`.
 * Schemas: packages/cli/schemas/*.schema.json.
 */
/** Exit code (and envelope status) of a complete run whose `--fail-if` condition held: not an error (docs/exit-codes.md). */
export const GATE_FAILED_STATUS = 10;

export interface SuccessEnvelope<T> {
  /** 0, or GATE_FAILED_STATUS when the result is complete but a --fail-if gate failed. */
  status: 0 | typeof GATE_FAILED_STATUS;
  result: T;
  warnings: string[];
}

export interface ErrorEnvelope {
  /** The process exit code (docs/exit-codes.md). */
  status: number;
  /** The error class, e.g. 'InvalidModelError'. */
  name: string;
  /** Stable code for scripts, e.g. 'PG_INVALID_MODEL'. */
  code: string;
  message: string;
  /** What the user can do about it. */
  action: string;
  warnings: string[];
}

/** Exit code and code of an error that is not one of pg's own: a bug. */
export const INTERNAL = { status: 1, code: 'PG_INTERNAL' } as const;

export function errorEnvelope(err: Error, warnings: string[]): ErrorEnvelope {
  if (isPgError(err)) {
    return {
      status: err.exitCode,
      name: err.name,
      code: err.code,
      message: err.message,
      action: err.action ?? '',
      warnings,
    };
  }
  return {
    status: INTERNAL.status,
    name: err.name,
    code: INTERNAL.code,
    message: err.message,
    action: 'This is a bug in pg. Rerun with PG_DEBUG=1 to see where it happened, and report it with that output.',
    warnings,
  };
}

/** The human form on stderr: `Error [CODE]: message` and `Action: ...`. */
export function renderError(env: ErrorEnvelope): string {
  const lines = [`Error [${env.code}]: ${env.message}`];
  if (env.action !== '') lines.push(`Action: ${env.action}`);
  return lines.join('\n');
}

/**
 * oclif's own flag and argument errors become UsageErrors (exit 2). oclif decorates their messages
 * ("Parsing --x \n\t...", "See more help with --help", colours on a TTY); keep only what went wrong and
 * say where help is.
 */
export function toUsageError(err: unknown, commandId: string): UsageError {
  const raw = stripVTControlCharacters(err instanceof Error ? err.message : String(err));
  const message = raw
    .replace(/\nSee more help with --help\s*$/, '')
    // oclif warns that greedy multi-value flags swallow arguments; pg's list flags are not greedy.
    .replace(/\n\nNote: [\s\S]*?beginning of arguments\./, '')
    .replace(/^Parsing (--[\w-]+)\s*\n\t/, '$1: ')
    // oclif names a missing required flag without its dashes ("Missing required flag data").
    .replace(/^The following error occurred:\s*\n\s*/, '')
    .replace(/Missing required flag ([\w-]+)/g, 'Missing required flag --$1')
    .trim();
  const help = `Run 'pg ${commandId} --help' for its arguments and flags.`;
  return new UsageError(message, { action: (err instanceof UsageError ? err.action : undefined) ?? help, cause: err });
}
