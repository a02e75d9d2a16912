import { Flags } from '@oclif/core';
import { UsageError } from '@pg/core';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** '90s', '30m', '1h30m', '2h', '500ms', or a plain number of seconds, as milliseconds. */
export function parseDuration(input: string): number {
  const text = input.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) {
    throw new UsageError(`expected a duration like 90s, 30m, 1h30m or a number of seconds, got '${input}'`);
  }
  return parts.reduce((ms, p) => ms + Number(p[1]) * UNIT_MS[p[2]], 0);
}

/** A duration flag, parsed to milliseconds at parse time (a bad value is a usage error before any work). */
export const durationFlag = Flags.custom<number>({ parse: async (input) => parseDuration(input) });
