import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileAccessError, InvalidDataError } from '../errors/index.js';
import { encodeNpy, parseNpy, readNpyFile, writeNpyFile, type NpyArray } from './npy.js';

/** Files written by numpy 2.4 (np.save), so the reader is checked against the real thing. */
const NUMPY = {
  bigEndianF4:
    'k05VTVBZAQB2AHsnZGVzY3InOiAnPmY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAo/wAAAwAAAAEBAAABAgAAA',
  bigEndianI8:
    'k05VTVBZAQB2AHsnZGVzY3InOiAnPmk4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAr//////////wAAAAAAAAACAAAARdlkuAA=',
  fortran:
    'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAABAQAAAgD8AAIBAAAAAQAAAoEA=',
  bool: 'k05VTVBZAQB2AHsnZGVzY3InOiAnfGIxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAE=',
  scalarF8:
    'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAEQA==',
};
const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

/** A .npy file with a hand-written header (version and descr of our choosing). */
function handmade(descr: string, shape: string, data: Uint8Array, major = 1): Uint8Array {
  const header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }\n`;
  const prefix = major === 1 ? 10 : 12;
  const out = new Uint8Array(prefix + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  out.set(new TextEncoder().encode(header), prefix);
  out.set(data, prefix + header.length);
  return out;
}

const tmp = mkdtempSync(join(tmpdir(), 'pg-npy-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('npy', () => {
  const samples: NpyArray[] = [
    { dtype: 'float32', shape: [2, 3], data: Float32Array.from([0.5, -1, 3.25, 1e-7, -0, 65504]) },
    { dtype: 'float64', shape: [3], data: Float64Array.from([Math.PI, -1e300, 0]) },
    { dtype: 'int32', shape: [2, 1, 2], data: Int32Array.from([-2147483648, 0, 7, 2147483647]) },
    { dtype: 'int64', shape: [2], data: BigInt64Array.from([-(2n ** 40n), 2n ** 62n]) },
    { dtype: 'int16', shape: [2], data: Int16Array.from([-300, 300]) },
    { dtype: 'int8', shape: [2], data: Int8Array.from([-128, 127]) },
    { dtype: 'uint8', shape: [1, 4], data: Uint8Array.from([0, 1, 128, 255]) },
    { dtype: 'bool', shape: [2], data: Uint8Array.from([1, 0]) },
    { dtype: 'float32', shape: [], data: Float32Array.from([4]) },
    { dtype: 'float32', shape: [0, 3], data: new Float32Array(0) },
  ];
  it.each(samples.map((s) => [`${s.dtype} (${s.shape.join(',')})`, s] as const))('round-trips %s', (_, array) => {
    const bytes = encodeNpy(array);
    expect((bytes.length - array.data.byteLength) % 64).toBe(0); // data starts 64-byte aligned, like numpy
    const back = parseNpy(bytes, 'a.npy');
    expect(back.dtype).toBe(array.dtype);
    expect(back.shape).toEqual(array.shape);
    expect(back.data).toEqual(array.data);
  });

  it('round-trips through a file', async () => {
    const path = join(tmp, 'y.npy');
    await writeNpyFile(path, { dtype: 'int64', shape: [3], data: BigInt64Array.from([1n, 2n, 3n]) });
    const back = await readNpyFile(path);
    expect(back.dtype === 'int64' && Array.from(back.data)).toEqual([1n, 2n, 3n]);
    await expect(writeNpyFile(join(tmp, 'no', 'such', 'x.npy'), back)).rejects.toThrow(FileAccessError);
  });

  it('reads numpy files, converting big-endian data', () => {
    const f4 = parseNpy(b64(NUMPY.bigEndianF4), 'be.npy');
    expect(f4.dtype).toBe('float32');
    expect(f4.shape).toEqual([2, 2]);
    expect([...f4.data]).toEqual([1.5, -2, 3, 4]);
    const i8 = parseNpy(b64(NUMPY.bigEndianI8), 'be8.npy');
    expect(i8.dtype === 'int64' && Array.from(i8.data)).toEqual([-1n, 2n, 300000000000n]);
    const bool = parseNpy(b64(NUMPY.bool), 'b.npy');
    expect([bool.dtype, [...bool.data]]).toEqual(['bool', [1, 0, 1]]);
    const scalar = parseNpy(b64(NUMPY.scalarF8), 's.npy');
    expect([scalar.shape, [...scalar.data]]).toEqual([[], [2.5]]);
  });

  it('reads from a Node Buffer without touching it', () => {
    const pooled = Buffer.concat([Buffer.from('padding'), Buffer.from(NUMPY.bigEndianF4, 'base64')]).subarray(7);
    const before = Buffer.from(pooled);
    expect([...parseNpy(pooled, 'buf.npy').data]).toEqual([1.5, -2, 3, 4]);
    expect(pooled.equals(before)).toBe(true);
  });

  it('reads version 2.0 and 3.0 headers and big-endian int16', () => {
    const data = Uint8Array.from([0x01, 0x02, 0xff, 0xfe]);
    for (const major of [2, 3]) {
      const a = parseNpy(handmade('>i2', '(2,)', data, major), 'v.npy');
      expect([a.dtype, [...a.data]]).toEqual(['int16', [0x0102, -2]]);
    }
  });

  it('rejects fortran order with an action', () => {
    try {
      parseNpy(b64(NUMPY.fortran), 'f.npy');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidDataError);
      expect((e as InvalidDataError).message).toMatch(/f\.npy.*fortran_order is True/);
      expect((e as InvalidDataError).action).toMatch(/np\.ascontiguousarray/);
    }
  });

  it('rejects truncated files, bad magic, unknown dtypes and versions', () => {
    const full = encodeNpy({ dtype: 'float32', shape: [4, 4], data: new Float32Array(16) });
    expect(() => parseNpy(full.subarray(0, full.length - 1), 't.npy')).toThrow(/t\.npy.*truncated data: shape \(4, 4\) of float32 needs 64 bytes, the file has 63/);
    expect(() => parseNpy(full.subarray(0, 40), 'h.npy')).toThrow(/h\.npy.*truncated header/);
    expect(() => parseNpy(new TextEncoder().encode('PK\x03\x04 not numpy at all'), 'z.npy')).toThrow(/z\.npy.*magic/);
    expect(() => parseNpy(handmade('<c16', '(1,)', new Uint8Array(16)), 'c.npy')).toThrow(/dtype '<c16' is not supported/);
    expect(() => parseNpy(handmade('<u4', '(1,)', new Uint8Array(4)), 'u.npy')).toThrow(InvalidDataError);
    const v9 = handmade('<f4', '(1,)', new Uint8Array(4));
    v9[6] = 9;
    expect(() => parseNpy(v9, 'v.npy')).toThrow(/version 9\.0/);
  });
});
