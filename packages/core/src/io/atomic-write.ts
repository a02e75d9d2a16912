import { randomBytes } from 'node:crypto';
import { open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { FileAccessError, PgError } from '../errors/pg-error.js';

/**
 * File contents: bytes, text (UTF-8), or chunks produced while writing so a large file (an external
 * data file of a model) never has to be held in memory as a whole.
 */
export type FileData = Uint8Array | string | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

export interface FileToWrite {
  path: string;
  data: FileData;
}

/**
 * Writes `data` to `path` so readers see either the old file or the complete new one, never a partial
 * file: the bytes go to a temp file in the same folder (same file system, so rename is atomic), are
 * fsynced, and the temp file is renamed over the target.
 */
export async function writeFileAtomic(path: string, data: FileData): Promise<void> {
  await writeFilesAtomic([{ path, data }]);
}

/**
 * Writes several files (e.g. a model and its external data file): every temp file is written and
 * fsynced before the first rename, so a failure while writing leaves all old files untouched.
 * Renames happen in the given order; list the file others depend on (the data file) first.
 */
export async function writeFilesAtomic(files: readonly FileToWrite[]): Promise<void> {
  const temps: { temp: string; target: string }[] = [];
  try {
    for (const f of files) {
      const target = resolve(f.path);
      const temp = tempPathFor(target);
      temps.push({ temp, target });
      await writeTemp(temp, target, f.data);
    }
  } catch (e) {
    await Promise.all(temps.map((t) => removeQuietly(t.temp)));
    throw toWriteError(temps[temps.length - 1]?.target ?? resolve(files[0]?.path ?? '.'), e);
  }
  let renamed = 0;
  try {
    for (const t of temps) {
      await rename(t.temp, t.target);
      renamed++;
    }
  } catch (e) {
    await Promise.all(temps.slice(renamed).map((t) => removeQuietly(t.temp)));
    throw toWriteError(temps[renamed].target, e);
  }
  // Persist the renames themselves; best effort (not every platform can fsync a folder).
  for (const dir of new Set(temps.map((t) => dirname(t.target)))) await syncDirQuietly(dir);
}

/** `.<name>.<pid>.<random>.tmp` next to the target: hidden, unique per process and call. */
function tempPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

async function writeTemp(temp: string, target: string, data: FileData): Promise<void> {
  // Keep the permission bits of a file we replace (e.g. a group-readable model).
  const mode = await stat(target).then(
    (s) => s.mode & 0o777,
    () => 0o666,
  );
  // 'wx': never follow or clobber something already at the temp name.
  const handle = await open(temp, 'wx', mode);
  try {
    await writeData(handle, data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeData(handle: FileHandle, data: FileData): Promise<void> {
  if (typeof data === 'string' || data instanceof Uint8Array) {
    await handle.writeFile(data);
    return;
  }
  for await (const chunk of data) {
    let done = 0;
    while (done < chunk.byteLength) {
      const { bytesWritten } = await handle.write(chunk, done, chunk.byteLength - done);
      done += bytesWritten;
    }
  }
}

async function removeQuietly(path: string): Promise<void> {
  await unlink(path).catch(() => undefined);
}

async function syncDirQuietly(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Folders cannot be opened or fsynced on some platforms (Windows); the rename is still done.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** Turns a Node fs error into a FileAccessError that names the target; PgErrors (e.g. from a data producer) pass through. */
export function toWriteError(path: string, e: unknown): PgError {
  if (e instanceof PgError) return e;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const reason = ((): { what: string; action: string } => {
    switch (code) {
      case 'ENOSPC':
      case 'EDQUOT':
        return { what: 'disk full', action: 'Free some disk space or write to another disk.' };
      case 'EACCES':
      case 'EPERM':
      case 'EROFS':
        return { what: 'not writable', action: 'Check the permissions of the folder, or choose another output path.' };
      case 'ENOENT':
        return { what: 'the folder does not exist', action: 'Create the folder first, or choose another output path.' };
      case 'ENOTDIR':
        return { what: 'a part of the path is a file, not a folder', action: 'Choose another output path.' };
      case 'EISDIR':
        return { what: 'the path is a folder', action: 'Give a file name, not a folder.' };
      default:
        return { what: e instanceof Error ? e.message : String(e), action: 'Check the output path and retry.' };
    }
  })();
  return new FileAccessError(`Cannot write '${path}': ${reason.what}`, { action: reason.action, cause: e });
}
