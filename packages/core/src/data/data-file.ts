import { open, readFile, type FileHandle } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { FileAccessError, InvalidDataError } from '../errors/index.js';

/** Reads a whole data file, turning OS errors into a FileAccessError that names the file. */
export async function readDataFile(path: string): Promise<Uint8Array> {
  try {
    const buf = await readFile(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    throw dataFileError(path, e);
  }
}

/**
 * Opens a data file, hands `read` the handle and the file's size, and closes it. OS errors become a
 * FileAccessError naming the file; the InvalidDataErrors `read` throws pass through.
 */
export async function withDataFile<T>(path: string, read: (handle: FileHandle, size: number) => Promise<T>): Promise<T> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    throw dataFileError(path, e);
  }
  try {
    return await read(handle, (await handle.stat()).size);
  } catch (e) {
    if (e instanceof InvalidDataError) throw e;
    throw dataFileError(path, e);
  } finally {
    await handle.close();
  }
}

/** A FileAccessError naming a data file that an fs call failed on. */
export function dataFileError(path: string, e: unknown): FileAccessError {
  const code = (e as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder, not a file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (e as Error).message;
  return new FileAccessError(`Cannot read data file ${path}: ${why}.`, {
    action:
      code === 'EACCES' || code === 'EPERM' ? 'Make the file readable, or copy it somewhere you can read.' : 'Check the path (relative paths are taken from the current folder).',
    cause: e,
  });
}

/** True when the bytes start with the gzip magic 1f 8b, whatever the file is called. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Decompresses gzip content (detected by its magic, not the file name); other bytes pass through. */
export function gunzipIfNeeded(bytes: Uint8Array, file: string): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  try {
    const out = gunzipSync(bytes);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (e) {
    throw new InvalidDataError(`${file} looks gzip-compressed but cannot be decompressed: ${(e as Error).message}.`, {
      action: 'The file is probably truncated or corrupt; download or copy it again.',
      cause: e,
    });
  }
}
