import { access, constants, mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { toWriteError } from './atomic-write.js';

/**
 * Creates `path` and its parents. On failure throws the FileAccessError that names `path` and says why:
 * a recursive mkdir reports ENOENT when the deepest existing folder refuses the new one (a read-only file
 * system), so the existing ancestor is asked whether it is writable, and its error is the one reported.
 */
export async function makeFolder(path: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true });
  } catch (e) {
    throw toWriteError(path, (e as NodeJS.ErrnoException).code === 'ENOENT' ? await ancestorError(path, e) : e);
  }
}

async function ancestorError(path: string, original: unknown): Promise<unknown> {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const exists = await stat(dir).then(
      () => true,
      () => false,
    );
    if (exists)
      return access(dir, constants.W_OK).then(
        () => original,
        (e: unknown) => e,
      );
    if (dirname(dir) === dir) return original;
  }
}
