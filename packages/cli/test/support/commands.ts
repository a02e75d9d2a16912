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

/** The command files in src/commands, by id (a topic's folder adds 'topic:'): what the built folder must hold (a stale dist/ would not). */
export function sourceCommandIds(dir = join(CLI, 'src/commands'), topic = ''): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((f) => (f.isDirectory() ? sourceCommandIds(join(dir, f.name), `${topic}${f.name}:`) : f.name.endsWith('.ts') ? [`${topic}${f.name.slice(0, -'.ts'.length)}`] : []))
    .sort((a, b) => a.localeCompare(b));
}

/** A command id as users type it: 'report:merge' is `pg report merge`. */
export const spokenId = (id: string): string => id.replaceAll(':', ' ');

/** A command's flags users see (not hidden), split into its own and the global ones every command has. */
export function visibleFlags(cmd: Command.Loadable): { own: string[]; global: string[] } {
  const visible = Object.entries(cmd.flags).filter(([, f]) => !f.hidden);
  return {
    own: visible.filter(([, f]) => f.helpGroup !== 'GLOBAL').map(([name]) => name),
    global: visible.filter(([, f]) => f.helpGroup === 'GLOBAL').map(([name]) => name),
  };
}
