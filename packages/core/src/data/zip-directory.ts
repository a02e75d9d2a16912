import type { FileHandle } from 'node:fs/promises';

/** Where one zip entry's bytes are in the file. */
export interface ZipEntry {
  name: string;
  /** 0 stored (np.savez), 8 deflated (np.savez_compressed). */
  method: number;
  /** Offset of the entry's (possibly compressed) bytes in the file. */
  dataStart: number;
  compressedSize: number;
  size: number;
}

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const MAX32 = 0xffffffff;

/**
 * Reads a zip file's central directory, and the local header of each entry `wanted` keeps, without
 * reading any entry's data: an .npz of stored arrays can then be read at offsets like an .npy file.
 * Handles zip64 (numpy writes every entry with zip64 fields). Undefined when the file is not a zip
 * pg can lay out this way; the caller then falls back to reading it whole.
 */
export async function readZipDirectory(handle: FileHandle, fileSize: number, wanted: (name: string) => boolean): Promise<ZipEntry[] | undefined> {
  const read = async (position: number, length: number): Promise<DataView | undefined> => {
    if (position < 0 || length < 0 || position + length > fileSize) return undefined;
    const buf = new Uint8Array(length);
    const { bytesRead } = await handle.read(buf, 0, length, position);
    return bytesRead === length ? new DataView(buf.buffer) : undefined;
  };
  // The end record is the last 22 bytes, or earlier when a comment (at most 64 KiB) follows it.
  const tailLength = Math.min(fileSize, 22 + 0xffff);
  const tail = await read(fileSize - tailLength, tailLength);
  if (tail === undefined) return undefined;
  let eocd = -1;
  for (let i = tailLength - 22; i >= 0; i--) {
    if (tail.getUint32(i, true) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return undefined;
  let count = tail.getUint16(eocd + 10, true);
  let cdSize = tail.getUint32(eocd + 12, true);
  let cdOffset = tail.getUint32(eocd + 16, true);
  if (cdOffset === MAX32 || cdSize === MAX32 || count === 0xffff) {
    const locatorAt = eocd - 20;
    if (locatorAt < 0 || tail.getUint32(locatorAt, true) !== EOCD64_LOCATOR) return undefined;
    const record = await read(Number(tail.getBigUint64(locatorAt + 8, true)), 56);
    if (record === undefined || record.getUint32(0, true) !== EOCD64) return undefined;
    count = Number(record.getBigUint64(32, true));
    cdSize = Number(record.getBigUint64(40, true));
    cdOffset = Number(record.getBigUint64(48, true));
  }
  const cd = await read(cdOffset, cdSize);
  if (cd === undefined) return undefined;
  const names = new TextDecoder();
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let k = 0; k < count; k++) {
    if (p + 46 > cdSize || cd.getUint32(p, true) !== CENTRAL) return undefined;
    const method = cd.getUint16(p + 10, true);
    let compressedSize = cd.getUint32(p + 20, true);
    let size = cd.getUint32(p + 24, true);
    const nameLength = cd.getUint16(p + 28, true);
    const extraLength = cd.getUint16(p + 30, true);
    const commentLength = cd.getUint16(p + 32, true);
    let localOffset = cd.getUint32(p + 42, true);
    if (p + 46 + nameLength + extraLength > cdSize) return undefined;
    const name = names.decode(new Uint8Array(cd.buffer, p + 46, nameLength));
    // zip64: the 64-bit values that did not fit are in extra field 0x0001, in this order.
    for (let e = p + 46 + nameLength; e + 4 <= p + 46 + nameLength + extraLength;) {
      const id = cd.getUint16(e, true);
      const length = cd.getUint16(e + 2, true);
      if (id === 1) {
        let q = e + 4;
        const next = (): number | undefined => {
          if (q + 8 > e + 4 + length) return undefined;
          const v = Number(cd.getBigUint64(q, true));
          q += 8;
          return v;
        };
        if (size === MAX32) size = next() ?? -1;
        if (compressedSize === MAX32) compressedSize = next() ?? -1;
        if (localOffset === MAX32) localOffset = next() ?? -1;
      }
      e += 4 + length;
    }
    p += 46 + nameLength + extraLength + commentLength;
    if (!wanted(name)) continue;
    if (size < 0 || compressedSize < 0 || localOffset < 0) return undefined;
    const local = await read(localOffset, 30);
    if (local === undefined || local.getUint32(0, true) !== LOCAL) return undefined;
    const dataStart = localOffset + 30 + local.getUint16(26, true) + local.getUint16(28, true);
    if (dataStart + compressedSize > fileSize) return undefined;
    entries.push({ name, method, dataStart, compressedSize, size });
  }
  return entries;
}
