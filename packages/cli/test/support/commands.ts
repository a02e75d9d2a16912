import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Config, type Command } from '@oclif/core';
import { ROOT } from './pg.js';

const CLI = join(ROOT, 'packages/cli');

/**
 * Every command `pg` offers, as oclif finds them (the built commands folder, the way the binary does), with
 * their flags as oclif sees them: the command's own, the global ones (helpGroup GLOBAL) and --json. Tests that
 * must cover every command iterate this, so a new command file is covered without editing a list.
 */
export async function pgCommands(): Promise<Command.Loadable[]> {
  const config = await Config.load(CLI);
  return [...config.commands].sort((a, b) => a.id.localeCompare(b.id));
}

/** The command files in src/commands, by id: what the built folder must hold (a stale dist/ would not). */
export function sourceCommandIds(): string[] {
  return readdirSync(join(CLI, 'src/commands'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -'.ts'.length))
    .sort();
}

/** A command's flags users see (not hidden), split into its own and the global ones every command has. */
export function visibleFlags(cmd: Command.Loadable): { own: string[]; global: string[] } {
  const visible = Object.entries(cmd.flags).filter(([, f]) => !f.hidden);
  return {
    own: visible.filter(([, f]) => f.helpGroup !== 'GLOBAL').map(([name]) => name),
    global: visible.filter(([, f]) => f.helpGroup === 'GLOBAL').map(([name]) => name),
  };
}
