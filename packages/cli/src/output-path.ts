import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UsageError } from '@pg/core';

/**
 * Refuses to write a model over its own input unless --force: a mistyped -o would otherwise replace
 * the user's original. Compares the files themselves too, so a symlink or another spelling of the
 * path is caught as well.
 */
export async function assertOutputIsNotInput(input: string, output: string, force: boolean): Promise<void> {
  if (force || !(await sameFile(input, output))) return;
  throw new UsageError(`The output '${output}' is the input model '${input}'; writing it would replace the original.`, {
    action: 'Write to another file with -o, or pass --force to replace the input.',
  });
}

async function sameFile(a: string, b: string): Promise<boolean> {
  if (resolve(a) === resolve(b)) return true;
  try {
    const [sa, sb] = await Promise.all([stat(a), stat(b)]);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    // One of them does not exist yet, so they cannot be the same file.
    return false;
  }
}
