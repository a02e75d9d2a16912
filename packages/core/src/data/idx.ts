import { InvalidDataError } from '../errors/index.js';
import { gunzipIfNeeded, readDataFile } from './data-file.js';

/** IDX (the MNIST file format): 2 zero bytes, a dtype byte, a rank byte, big-endian int32 dims, big-endian data. */
export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  dtype: IdxDtype;
  shape: number[];
  data: IdxData;
}

const DTYPES: Record<number, { dtype: IdxDtype; bytes: number }> = {
  0x08: { dtype: 'uint8', bytes: 1 },
  0x09: { dtype: 'int8', bytes: 1 },
  0x0b: { dtype: 'int16', bytes: 2 },
  0x0c: { dtype: 'int32', bytes: 4 },
  0x0d: { dtype: 'float32', bytes: 4 },
  0x0e: { dtype: 'float64', bytes: 8 },
};

const ACTION_REFETCH = 'Use an IDX file as published (e.g. train-images-idx3-ubyte.gz); download or copy it again if it may be damaged.';

/** Reads an IDX file, gzip-compressed or raw. */
export async function readIdxFile(path: string): Promise<IdxArray> {
  return parseIdx(await readDataFile(path), path);
}

/** Parses IDX bytes (gzip-compressed or raw); `file` names the source in errors. */
export function parseIdx(input: Uint8Array, file: string): IdxArray {
  const bytes = gunzipIfNeeded(input, file);
  const fail = (what: string): never => {
    throw new InvalidDataError(`${file} is not a valid IDX file: ${what}.`, { action: ACTION_REFETCH });
  };
  if (bytes.length < 4) fail(`only ${bytes.length} bytes, too short for the 4-byte magic`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    fail(`bad magic ${hex(bytes.subarray(0, 4))} (an IDX file starts with 00 00, a dtype byte and a rank byte)`);
  }
  const type = DTYPES[bytes[2]];
  if (type === undefined) fail(`unknown dtype byte 0x${bytes[2].toString(16).padStart(2, '0')} (expected 08, 09, 0b, 0c, 0d or 0e)`);
  const rank = bytes[3];
  if (rank === 0) fail('rank 0 (no dimensions)');
  const headerSize = 4 + 4 * rank;
  if (bytes.length < headerSize) fail(`truncated header: rank ${rank} needs ${headerSize} bytes, the file has ${bytes.length}`);

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = headerSize + count * type.bytes;
  if (bytes.length < expected) {
    fail(`truncated: shape [${shape.join(', ')}] of ${type.dtype} needs ${expected} bytes, the file has ${bytes.length}`);
  }
  if (bytes.length > expected) {
    fail(`${bytes.length - expected} bytes after the data that shape [${shape.join(', ')}] of ${type.dtype} describes`);
  }
  return { dtype: type.dtype, shape, data: decode(type.dtype, view, headerSize, count) };
}

function decode(dtype: IdxDtype, view: DataView, offset: number, count: number): IdxData {
  switch (dtype) {
    case 'uint8':
      // No byte order to fix: a view avoids copying tens of MB of pixels.
      return new Uint8Array(view.buffer, view.byteOffset + offset, count);
    case 'int8':
      return new Int8Array(view.buffer, view.byteOffset + offset, count);
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(offset + 2 * i, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(offset + 4 * i, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i, false);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(offset + 8 * i, false);
      return out;
    }
  }
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}
