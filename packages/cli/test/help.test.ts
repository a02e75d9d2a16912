// `pg <command> --help` for every command oclif finds: what a user reads first.
import { describe, it } from 'vitest';
import { pgCommands, spokenId, visibleFlags } from './support/commands.js';
import { pg } from './support/pg.js';

const commands = await pgCommands();

// Each case is a separate process, mostly waiting on start-up: run them side by side.
describe.concurrent('pg <command> --help', () => {
  for (const cmd of commands) {
    it(`pg ${spokenId(cmd.id)} --help shows its summary, every flag with a named value, and examples that use only its flags`, async ({ expect }) => {
      const run = await pg([...spokenId(cmd.id).split(' '), '--help']);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toBe('');
      const text = run.stdout;
      expect(text.startsWith(`${cmd.summary ?? '(no summary)'}\n`)).toBe(true);
      const { own, global } = visibleFlags(cmd);
      expect([...own, ...global].filter((f) => !new RegExp(`--(\\[no-\\])?${f}\\b`).test(text))).toEqual([]);
      for (const [name, flag] of Object.entries(cmd.flags)) if (flag.hidden) expect(text).not.toMatch(new RegExp(`--${name}\\b`));
      // oclif's placeholders when a flag does not say what its value is.
      expect(text).not.toMatch(/<value>|<option>/);
      const examples = (cmd.examples ?? []).map((e) => (typeof e === 'string' ? e : e.command));
      expect(examples.length).toBeGreaterThan(0);
      expect(text).toMatch(/^EXAMPLES$/m);
      const known = new Set(
        Object.entries(cmd.flags)
          .filter(([, f]) => !f.hidden)
          .flatMap(([name, f]) => [name, ...(f.type === 'boolean' && f.allowNo ? [`no-${name}`] : [])]),
      );
      const used = examples.flatMap((e) => [...e.matchAll(/(?<=\s)--([a-z][\w-]*)/g)].map((m) => m[1]));
      expect(used.filter((f) => !known.has(f))).toEqual([]);
    });
  }
});
