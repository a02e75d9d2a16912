import { readFile } from 'node:fs/promises';
import { FileAccessError } from '../errors/pg-error.js';

/** Reads a whole file, turning fs errors into a FileAccessError that names the file. */
export async function readFileBytes(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (e) {
    throw toReadError(path, e);
  }
}

export function toReadError(path: string, e: unknown): FileAccessError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const [what, action] =
    code === 'ENOENT' || code === 'ENOTDIR'
      ? ['the file does not exist', 'Check the path.']
      : code === 'EACCES' || code === 'EPERM'
        ? ['permission denied', 'Check the permissions of the file.']
        : code === 'EISDIR'
          ? ['it is a folder, not a file', 'Give the path of a file.']
          : [e instanceof Error ? e.message : String(e), 'Check the path and retry.'];
  return new FileAccessError(`Cannot read '${path}': ${what}`, { action, cause: e });
}
