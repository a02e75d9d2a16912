import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileAccessError } from '../errors/pg-error.js';
import { makeFolder } from './make-folder.js';

const dir = mkdtempSync(join(tmpdir(), 'pg-folder-'));

/** A read-only tmpfs under `dir` (needs the privilege to mount: root in CI); undefined when it cannot be made. */
function readOnlyMount(): string | undefined {
  const ro = join(dir, 'ro');
  mkdirSync(ro);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', ro], { stdio: 'ignore' });
    return ro;
  } catch {
    return undefined;
  }
}
const ro = readOnlyMount();

afterAll(() => {
  if (ro !== undefined) execFileSync('umount', [ro]);
  rmSync(dir, { recursive: true, force: true });
});

describe('makeFolder', () => {
  it('creates a folder and its parents, and accepts one that exists', async () => {
    const p = join(dir, 'a', 'b', 'c');
    await makeFolder(p);
    await makeFolder(p);
    expect(statSync(p).isDirectory()).toBe(true);
  });

  it('names the path and says a part of it is a file', async () => {
    writeFileSync(join(dir, 'file'), 'x');
    const err = await makeFolder(join(dir, 'file', 'sub')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileAccessError);
    expect((err as Error).message).toBe(`Cannot write '${join(dir, 'file', 'sub')}': a part of the path is a file, not a folder`);
  });

  it.skipIf(ro === undefined)(
    `says "not writable" on a read-only file system, where mkdir reports ENOENT${ro === undefined ? ' (skipped: cannot mount a tmpfs here)' : ''}`,
    async () => {
      const err = await makeFolder(join(ro ?? '', 'out', 'points')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FileAccessError);
      expect((err as Error).message).toBe(`Cannot write '${join(ro ?? '', 'out', 'points')}': not writable`);
    },
  );
});
