import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { skipNote } from '../../test/support/skip.js';
import { FileAccessError, InvalidDataError } from '../errors/index.js';
import { parseIdx, readIdxFile } from './idx.js';

/** Builds an IDX file: 00 00 dtype rank, big-endian dims, then the given payload. */
function idx(dtype: number, dims: number[], payload: number[] | Uint8Array): Uint8Array {
  const head = new Uint8Array(4 + 4 * dims.length);
  head[2] = dtype;
  head[3] = dims.length;
  const view = new DataView(head.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length);
  return out;
}

describe('parseIdx', () => {
  it('reads a handcrafted uint8 file, raw or gzipped', () => {
    const raw = idx(0x08, [2, 2, 3], [0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]);
    for (const bytes of [raw, new Uint8Array(gzipSync(raw))]) {
      const a = parseIdx(bytes, 'x.idx');
      expect(a.dtype).toBe('uint8');
      expect(a.shape).toEqual([2, 2, 3]);
      expect(Array.from(a.data)).toEqual([0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]);
    }
  });

  it('converts big-endian int32 and float32', () => {
    const ints = parseIdx(idx(0x0c, [2], [0xff, 0xff, 0xff, 0xfe, 0x00, 0x00, 0x01, 0x00]), 'i.idx');
    expect(ints.dtype).toBe('int32');
    expect(Array.from(ints.data)).toEqual([-2, 256]);
    const floats = parseIdx(idx(0x0d, [1], [0x3f, 0xc0, 0x00, 0x00]), 'f.idx');
    expect(Array.from(floats.data)).toEqual([1.5]);
  });

  it('names the file and the fault for bad magic, dtype and truncation', () => {
    expect(() => parseIdx(new Uint8Array([0x50, 0x4b, 3, 4, 0, 0]), 'a.idx')).toThrow(/a\.idx is not a valid IDX file: bad magic 50 4b 03 04/);
    expect(() => parseIdx(idx(0x07, [1], [0]), 'b.idx')).toThrow(/b\.idx.*unknown dtype byte 0x07/);
    expect(() => parseIdx(idx(0x08, [3, 28, 28], new Uint8Array(100)), 'c.idx')).toThrow(/c\.idx.*truncated: shape \[3, 28, 28\] of uint8 needs 2368 bytes, the file has 116/);
    expect(() => parseIdx(idx(0x08, [2], [1, 2, 3]), 'd.idx')).toThrow(/d\.idx.*1 bytes after the data/);
    expect(() => parseIdx(new Uint8Array([0, 0, 8, 3, 0, 0]), 'e.idx')).toThrow(/truncated header/);
    const gz = new Uint8Array(gzipSync(idx(0x08, [100], new Uint8Array(100))));
    expect(() => parseIdx(gz.subarray(0, gz.length - 10), 'f.gz')).toThrow(InvalidDataError);
    try {
      parseIdx(new Uint8Array([1, 2, 3, 4]), 'g.idx');
      expect.unreachable();
    } catch (e) {
      expect((e as InvalidDataError).action).toMatch(/IDX file as published/);
    }
  });

  it('reports a missing file as FileAccessError', async () => {
    await expect(readIdxFile('/nonexistent/t10k-labels-idx1-ubyte.gz')).rejects.toThrow(FileAccessError);
    await expect(readIdxFile('/nonexistent/t10k-labels-idx1-ubyte.gz')).rejects.toThrow(/\/nonexistent\/t10k-labels-idx1-ubyte\.gz: no such file/);
  });

  const debian = '/usr/share/datasets/fashion-mnist';
  const hasDebian = existsSync(join(debian, 't10k-images-idx3-ubyte.gz'));
  it.skipIf(!hasDebian)(`reads the real Fashion-MNIST test files${skipNote(hasDebian, `no ${debian}: apt-get install dataset-fashion-mnist`)}`, async () => {
    const [images, labels] = await Promise.all([readIdxFile(join(debian, 't10k-images-idx3-ubyte.gz')), readIdxFile(join(debian, 't10k-labels-idx1-ubyte.gz'))]);
    expect(images.dtype).toBe('uint8');
    expect(images.shape).toEqual([10000, 28, 28]);
    expect(labels.shape).toEqual([10000]);
    expect(Array.from(labels.data.subarray(0, 5))).toEqual([9, 2, 1, 1, 6]);
    expect(Math.max(...labels.data)).toBe(9);
  });
});
