import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { onnx as P } from 'onnx-proto';
import { FileAccessError, InvalidModelError } from '../errors/pg-error.js';
import type { ConstTensor, DataType, ExternalRef, TensorData } from '../graph/tensor.js';
import { invalid, type DecodeContext } from './context.js';
import { decodeRaw, type NumericDataType } from './raw-data.js';

/** Where the bytes of an external tensor are, resolved to a file path at decode time. */
interface ExternalSource {
  /** Absolute path of the data file; undefined when the model was decoded from memory without a path. */
  path: string | undefined;
  offset: number;
  length: number;
  /** For messages: the model file and the tensor ("initializer 'W'"). */
  modelFile: string;
  subject: string;
  location: string;
}

interface LazyState {
  source: ExternalSource;
  dtype: NumericDataType;
  count: number;
  loaded?: TensorData;
}

/** A tensor whose data lives in an external file, with the facts readModel needs to check that file. */
export interface ExternalTensor {
  tensor: ConstTensor;
  source: ExternalSource;
}

// Keyed by the tensor's data function: a transform that swaps `data` (even via object spread) gets a
// new function and so loses the fast path, which is exactly when the source bytes are no longer valid.
const lazyStates = new WeakMap<() => TensorData, LazyState>();

/** Reads location/offset/length from a TensorProto's external_data key-value list. */
export function parseExternalRef(entries: readonly P.IStringStringEntryProto[], expectedBytes: number, subject: string, ctx: DecodeContext): ExternalRef {
  const kv = new Map(entries.map((e) => [e.key ?? '', e.value ?? '']));
  const location = kv.get('location');
  if (!location) throw invalid(ctx, `${subject} is marked as external data but has no 'location'`);
  checkLocation(location, subject, ctx);
  const offset = parseCount(kv.get('offset') ?? '0', 'offset', subject, ctx);
  const lengthText = kv.get('length');
  // `length` is optional in ONNX; the tensor's shape and type then fix it.
  const length = lengthText === undefined ? expectedBytes : parseCount(lengthText, 'length', subject, ctx);
  if (length !== expectedBytes) {
    throw invalid(ctx, `${subject} has external data length ${length}, but its shape and type need ${expectedBytes} bytes`);
  }
  return { location, offset, length };
}

function parseCount(text: string, key: string, subject: string, ctx: DecodeContext): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n)) throw invalid(ctx, `${subject} has an invalid external data ${key} '${text}'`);
  return n;
}

/**
 * Rejects locations that leave the model's folder: a model must not make pg read arbitrary files
 * (e.g. '/etc/passwd' or '../../secret'). Backslashes count as separators (models exported on Windows).
 */
function checkLocation(location: string, subject: string, ctx: DecodeContext): void {
  const bad = (why: string) =>
    invalid(
      ctx,
      `${subject} has external data location '${location}', which ${why}`,
      'External data files must lie in the model folder or below it; move the file and fix the location.',
    );
  if (location.includes('\0')) throw bad('contains a NUL character');
  if (/^([\\/]|[A-Za-z]:)/.test(location)) throw bad('is an absolute path');
  let depth = 0;
  for (const part of location.split(/[\\/]+/)) {
    if (part === '..') depth--;
    else if (part !== '.' && part !== '') depth++;
    if (depth < 0) throw bad("points outside the model's folder");
  }
  if (depth === 0) throw bad('names no file');
}

/** A ConstTensor whose bytes are read from the external file on the first `data()` call. */
export function lazyExternalTensor(name: string, dtype: DataType, dims: number[], count: number, ref: ExternalRef, subject: string, ctx: DecodeContext): ConstTensor {
  if (dtype === 'string') throw invalid(ctx, `${subject} is a string tensor stored as external data, which ONNX does not allow`);
  const source: ExternalSource = {
    path: ctx.baseDir === undefined ? undefined : join(ctx.baseDir, ...ref.location.split(/[\\/]+/)),
    offset: ref.offset,
    length: ref.length,
    modelFile: ctx.file,
    subject,
    location: ref.location,
  };
  const state: LazyState = { source, dtype, count };
  const data = (): TensorData => {
    state.loaded ??= decodeRaw(dtype, readSourceBytes(state.source), count);
    return state.loaded;
  };
  lazyStates.set(data, state);
  const tensor: ConstTensor = { name, dtype, dims, data, external: ref };
  ctx.externals.push({ tensor, source });
  return tensor;
}

/**
 * The stored bytes of an external tensor whose data was never decoded, read straight from its file
 * (no decode/encode round, no cached copy); undefined for any other tensor.
 */
export function unloadedExternalBytes(t: ConstTensor): Uint8Array | undefined {
  const state = lazyStates.get(t.data);
  if (state === undefined || state.loaded !== undefined) return undefined;
  return readSourceBytes(state.source);
}

/**
 * After a save wrote this tensor's bytes to `path` at `offset`, later lazy reads go there: the save may
 * have replaced the very file the tensor was loaded from.
 */
export function repointExternal(t: ConstTensor, path: string, offset: number): void {
  const state = lazyStates.get(t.data);
  if (state !== undefined && state.loaded === undefined) state.source = { ...state.source, path, offset };
}

/** Checks up front that every external data file exists and holds each tensor's byte range. */
export async function checkExternalFiles(externals: readonly ExternalTensor[]): Promise<void> {
  const sizes = new Map<string, Promise<number>>();
  for (const { source } of externals) {
    if (source.path === undefined) continue;
    let size = sizes.get(source.path);
    if (size === undefined) {
      size = stat(source.path).then((s) => {
        if (!s.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
        return s.size;
      });
      // Settle every promise so a rejection is only reported through the await below.
      size.catch(() => undefined);
      sizes.set(source.path, size);
    }
    let fileSize: number;
    try {
      fileSize = await size;
    } catch (e) {
      throw dataFileError(source, e);
    }
    checkExtent(source, fileSize);
  }
}

function checkExtent(source: ExternalSource, fileSize: number): void {
  if (source.offset + source.length > fileSize) {
    throw new InvalidModelError(
      `${source.modelFile}: ${source.subject} needs bytes ${source.offset}..${source.offset + source.length} of ` + `'${source.path}', but that file has only ${fileSize} bytes`,
      { action: 'The external data file is truncated or belongs to another model; copy the matching file next to the model.' },
    );
  }
}

function dataFileError(source: ExternalSource, e: unknown): FileAccessError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const why =
    code === 'ENOENT'
      ? 'does not exist'
      : code === 'EACCES' || code === 'EPERM'
        ? 'is not readable'
        : code === 'EISDIR'
          ? 'is not a file'
          : `cannot be read (${e instanceof Error ? e.message : String(e)})`;
  return new FileAccessError(`${source.modelFile}: ${source.subject} is stored in external data file '${source.path}', which ${why}`, {
    action: `Keep the external data file '${source.location}' next to the model file.`,
    cause: e,
  });
}

function readSourceBytes(source: ExternalSource): Uint8Array {
  if (source.path === undefined) {
    throw new InvalidModelError(
      `${source.modelFile}: ${source.subject} is stored in external data file '${source.location}', but the model was decoded from memory without its path`,
      { action: 'Read the model with readModel(path), or pass the model path to decodeModel.' },
    );
  }
  let fd: number;
  try {
    fd = openSync(source.path, 'r');
  } catch (e) {
    throw dataFileError(source, e);
  }
  try {
    checkExtent(source, fstatSync(fd).size);
    const out = new Uint8Array(source.length);
    let done = 0;
    while (done < out.length) {
      const n = readSync(fd, out, done, out.length - done, source.offset + done);
      if (n === 0) break; // shrank since the size check
      done += n;
    }
    if (done < out.length) checkExtent(source, source.offset + done);
    return out;
  } catch (e) {
    if (e instanceof InvalidModelError) throw e;
    throw dataFileError(source, e);
  } finally {
    closeSync(fd);
  }
}
