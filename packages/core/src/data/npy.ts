import { InvalidDataError } from '../errors/index.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { readDataFile } from './data-file.js';

/** NumPy's .npy format: magic, version, a Python-dict header (descr, fortran_order, shape), raw data. */
export type NpyDtype = 'float32' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

interface NpyDataTypes {
  float32: Float32Array;
  float64: Float64Array;
  int64: BigInt64Array;
  int32: Int32Array;
  int16: Int16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  bool: Uint8Array; // numpy stores bools as one 0/1 byte each
}

export type NpyData = NpyDataTypes[NpyDtype];

/** A parsed array; checking `dtype` narrows `data` to the matching typed array. */
export type NpyArray = { [D in NpyDtype]: { dtype: D; shape: number[]; data: NpyDataTypes[D] } }[NpyDtype];

export interface DtypeInfo {
  dtype: NpyDtype;
  bytes: number;
  make(buffer: ArrayBuffer, count: number): NpyData;
}

/** Keyed by numpy's type code without byte order ('f4'), which is what the descr carries. */
const CODES: Record<string, DtypeInfo> = {
  f4: { dtype: 'float32', bytes: 4, make: (b, n) => new Float32Array(b, 0, n) },
  f8: { dtype: 'float64', bytes: 8, make: (b, n) => new Float64Array(b, 0, n) },
  i8: { dtype: 'int64', bytes: 8, make: (b, n) => new BigInt64Array(b, 0, n) },
  i4: { dtype: 'int32', bytes: 4, make: (b, n) => new Int32Array(b, 0, n) },
  i2: { dtype: 'int16', bytes: 2, make: (b, n) => new Int16Array(b, 0, n) },
  i1: { dtype: 'int8', bytes: 1, make: (b, n) => new Int8Array(b, 0, n) },
  u1: { dtype: 'uint8', bytes: 1, make: (b, n) => new Uint8Array(b, 0, n) },
  b1: { dtype: 'bool', bytes: 1, make: (b, n) => new Uint8Array(b, 0, n) },
};

const CODE_OF: Record<NpyDtype, string> = {
  float32: 'f4',
  float64: 'f8',
  int64: 'i8',
  int32: 'i4',
  int16: 'i2',
  int8: 'i1',
  uint8: 'u1',
  bool: 'b1',
};

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const ACTION_RESAVE = 'Save the array again with numpy.save (e.g. np.save("x.npy", x.astype(np.float32))).';

export async function readNpyFile(path: string): Promise<NpyArray> {
  return parseNpy(await readDataFile(path), path);
}

/** Parses .npy bytes; `file` names the source in errors (e.g. 'data.npz:x.npy'). */
export function parseNpy(bytes: Uint8Array, file: string): NpyArray {
  const layout = parseNpyLayout(bytes, file, bytes.length);
  const { info, dataStart, dataBytes, count } = layout;
  // Copy into a fresh buffer: the data offset need not be aligned for a typed-array view. (Not
  // bytes.slice: on a Node Buffer that is a view, and the swap below would then modify the input.)
  const copy = new Uint8Array(dataBytes);
  copy.set(bytes.subarray(dataStart, dataStart + dataBytes));
  if (info.bytes > 1 && layout.littleEndian !== HOST_LITTLE_ENDIAN) swapBytes(copy, info.bytes);
  return { dtype: info.dtype, shape: layout.shape, data: info.make(copy.buffer, count) } as NpyArray;
}

/** Where an .npy file's data is and how to read it, from its header. */
export interface NpyLayout {
  info: DtypeInfo;
  littleEndian: boolean;
  shape: number[];
  /** Byte offset of the data in the file. */
  dataStart: number;
  dataBytes: number;
  count: number;
}

/** Bytes that always hold an .npy file's fixed prefix (magic, version, header length). */
export const NPY_PREFIX_BYTES = 12;

/**
 * The bytes of the header that follows the prefix, known from the prefix alone, so a reader can read
 * exactly the header and no data.
 */
export function npyHeaderEnd(prefix: Uint8Array): number {
  if (prefix.length < 10) return 10;
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  if (prefix[6] === 1) return 10 + view.getUint16(8, true);
  if ((prefix[6] === 2 || prefix[6] === 3) && prefix.length >= 12) return 12 + view.getUint32(8, true);
  return prefix.length;
}

/**
 * Reads the header of an .npy file from `bytes` (at least the header) and checks that a file of
 * `fileSize` bytes holds exactly the data it describes.
 */
export function parseNpyLayout(bytes: Uint8Array, file: string, fileSize: number): NpyLayout {
  const fail = (what: string, action = ACTION_RESAVE): never => {
    throw new InvalidDataError(`${file} is not a readable .npy file: ${what}.`, { action });
  };
  if (fileSize < 10 || bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    fail(fileSize < 10 ? `only ${fileSize} bytes` : 'it does not start with the magic "\\x93NUMPY"');
  }
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerStart: number;
  let headerLength: number;
  if (major === 1) {
    headerStart = 10;
    headerLength = view.getUint16(8, true);
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) fail('truncated header');
    headerStart = 12;
    headerLength = view.getUint32(8, true);
  } else {
    return fail(`format version ${major}.${bytes[7]} is not supported (only 1.0, 2.0 and 3.0)`);
  }
  const dataStart = headerStart + headerLength;
  if (fileSize < dataStart || bytes.length < dataStart) fail(`truncated header: it declares ${headerLength} bytes, the file has ${fileSize - headerStart}`);
  // v3 allows UTF-8 in the header (field names); v1/v2 are latin1.
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, dataStart));
  const { info, littleEndian, fortran, shape } = parseHeader(header, fail);
  if (fortran) {
    fail('fortran_order is True (column-major data is not supported)', 'Save a C-ordered copy: np.save(path, np.ascontiguousarray(x)).');
  }
  const count = shape.reduce((a, b) => a * b, 1);
  const dataBytes = count * info.bytes;
  const available = fileSize - dataStart;
  if (available < dataBytes) {
    fail(`truncated data: shape (${shape.join(', ')}) of ${info.dtype} needs ${dataBytes} bytes, the file has ${available}`, 'The file is incomplete; save or copy it again.');
  }
  if (available > dataBytes) {
    fail(`${available - dataBytes} bytes after the data that shape (${shape.join(', ')}) of ${info.dtype} describes`);
  }
  return { info, littleEndian, shape, dataStart, dataBytes, count };
}

function parseHeader(header: string, fail: (what: string, action?: string) => never): { info: DtypeInfo; littleEndian: boolean; fortran: boolean; shape: number[] } {
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined) {
    fail(
      /['"]descr['"]\s*:\s*\[/.test(header) ? 'structured (record) dtypes are not supported' : `no 'descr' in header ${JSON.stringify(header.trim())}`,
      'Save a plain numeric array, e.g. np.save(path, x.astype(np.float32)).',
    );
  }
  if (fortran === undefined) fail(`no 'fortran_order' in header ${JSON.stringify(header.trim())}`);
  if (shapeText === undefined) fail(`no 'shape' in header ${JSON.stringify(header.trim())}`);

  const order = descr!.length === 3 ? descr![0] : '';
  const info = CODES[descr!.slice(order === '' ? 0 : 1)];
  if (info === undefined || (order !== '' && !'<>|='.includes(order)) || (order === '|' && info.bytes > 1)) {
    fail(
      `dtype '${descr}' is not supported (supported: f4 f8 i8 i4 i2 i1 u1 b1, either byte order)`,
      'Convert the array first, e.g. np.save(path, x.astype(np.float32)) for data or y.astype(np.int64) for labels.',
    );
  }
  const shape: number[] = [];
  for (const part of shapeText!.split(',')) {
    const dim = part.trim().replace(/L$/, ''); // Python 2 wrote longs as 3L
    if (dim === '') continue;
    if (!/^\d+$/.test(dim)) fail(`bad shape (${shapeText})`);
    shape.push(Number(dim));
  }
  // '=' is native order; numpy writes '<' or '>' for multi-byte types, so this is only a fallback.
  const littleEndian = order === '>' ? false : order === '=' ? HOST_LITTLE_ENDIAN : true;
  return { info: info!, littleEndian, fortran: fortran === 'True', shape };
}

export function swapBytes(bytes: Uint8Array, width: number): void {
  for (let i = 0; i < bytes.length; i += width) {
    for (let a = i, b = i + width - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

/** Encodes an array as .npy (version 1.0, or 2.0 if the header needs it), little-endian, C order. */
export function encodeNpy(array: NpyArray): Uint8Array {
  const { dtype, shape, data } = array;
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count) {
    throw new RangeError(`encodeNpy: shape (${shape.join(', ')}) has ${count} elements, the data ${data.length}`);
  }
  const code = CODE_OF[dtype];
  const descr = (CODES[code].bytes === 1 ? '|' : '<') + code;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // numpy pads the header with spaces and a final newline so the data starts on a 64-byte boundary.
  const paddedFor = (prefix: number): number => Math.ceil((prefix + dict.length + 1) / 64) * 64;
  const v1 = paddedFor(10) - 10 <= 0xffff; // version 1.0 stores the header length in 16 bits
  const prefix = v1 ? 10 : 12;
  const padded = paddedFor(prefix);
  const header = dict + ' '.repeat(padded - prefix - dict.length - 1) + '\n';

  const dataBytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(padded + dataBytes.length);
  out.set(MAGIC, 0);
  out[6] = v1 ? 1 : 2;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (v1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[prefix + i] = header.charCodeAt(i);
  out.set(dataBytes, padded);
  if (!HOST_LITTLE_ENDIAN && CODES[code].bytes > 1) swapBytes(out.subarray(padded), CODES[code].bytes);
  return out;
}

/** Writes an array as .npy atomically (temp file + rename), so a failed write leaves any old file intact. */
export async function writeNpyFile(path: string, array: NpyArray): Promise<void> {
  await writeFileAtomic(path, encodeNpy(array));
}
