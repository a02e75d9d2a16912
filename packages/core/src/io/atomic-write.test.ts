import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileAccessError, InvalidModelError } from '../errors/pg-error.js';
import { toWriteError, writeFileAtomic, writeFilesAtomic } from './atomic-write.js';
import { readFileBytes } from './read-file.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pg-atomic-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const noTemps = (d: string) => expect(readdirSync(d).filter((f) => f.endsWith('.tmp'))).toEqual([]);

describe('writeFileAtomic', () => {
  it('writes bytes and strings, replacing an old file and keeping its permissions', async () => {
    const p = join(dir, 'out.bin');
    await writeFileAtomic(p, new Uint8Array([1, 2, 3]));
    expect([...readFileSync(p)]).toEqual([1, 2, 3]);
    chmodSync(p, 0o640);
    await writeFileAtomic(p, 'héllo');
    expect(readFileSync(p, 'utf8')).toBe('héllo');
    expect(statSync(p).mode & 0o777).toBe(0o640);
    noTemps(dir);
  });

  it('writes chunks from a (sync or async) iterable', async () => {
    const p = join(dir, 'chunks.bin');
    async function* gen() {
      yield new Uint8Array([1]);
      yield new Uint8Array(0);
      yield new Uint8Array([2, 3]);
    }
    await writeFileAtomic(p, gen());
    expect([...readFileSync(p)]).toEqual([1, 2, 3]);
    await writeFileAtomic(p, [new Uint8Array([9]), new Uint8Array([8])]);
    expect([...readFileSync(p)]).toEqual([9, 8]);
  });

  it('fails with FileAccessError naming the path when the parent is a file or missing', async () => {
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    const under = join(file, 'model.onnx');
    await expect(writeFileAtomic(under, 'data')).rejects.toThrow(FileAccessError);
    await expect(writeFileAtomic(under, 'data')).rejects.toThrow(under);
    const missing = join(dir, 'no-such-folder', 'model.onnx');
    await expect(writeFileAtomic(missing, 'data')).rejects.toThrow(/does not exist/);
    noTemps(dir);
  });

  it('leaves the old file intact and no temp file when the data producer fails', async () => {
    const p = join(dir, 'model.onnx');
    writeFileSync(p, 'old');
    function* failing(): Generator<Uint8Array> {
      yield new Uint8Array([1, 2]);
      throw new InvalidModelError('producer broke');
    }
    // A PgError from the producer passes through unchanged.
    await expect(writeFileAtomic(p, failing())).rejects.toThrow(InvalidModelError);
    expect(readFileSync(p, 'utf8')).toBe('old');
    noTemps(dir);
  });
});

describe('writeFilesAtomic', () => {
  it('renames nothing when any file fails, so old files stay as they were', async () => {
    const good = join(dir, 'model.onnx.data');
    writeFileSync(good, 'old data');
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    const bad = join(file, 'model.onnx');
    const err = await writeFilesAtomic([
      { path: good, data: 'new data' },
      { path: bad, data: 'new model' },
    ]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileAccessError);
    expect((err as FileAccessError).message).toContain(bad);
    expect((err as FileAccessError).action).toBeTruthy();
    expect(readFileSync(good, 'utf8')).toBe('old data');
    noTemps(dir);
  });

  it('writes all files', async () => {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    await writeFilesAtomic([
      { path: a, data: 'A' },
      { path: b, data: new Uint8Array([66]) },
    ]);
    expect(readFileSync(a, 'utf8')).toBe('A');
    expect(readFileSync(b, 'utf8')).toBe('B');
    noTemps(dir);
  });
});

describe('error mapping', () => {
  it.each([
    ['ENOSPC', /disk full/, /Free some disk space/],
    ['EDQUOT', /disk full/, /Free some disk space/],
    ['EACCES', /not writable/, /permissions/],
    ['EPERM', /not writable/, /permissions/],
    ['EROFS', /not writable/, /permissions/],
  ])('%s', (code, pattern, action) => {
    const e = toWriteError('/x/model.onnx', Object.assign(new Error('boom'), { code }));
    expect(e).toBeInstanceOf(FileAccessError);
    expect(e.message).toMatch(pattern);
    expect(e.message).toContain('/x/model.onnx');
    expect(e.action).toMatch(action);
  });

  it('readFileBytes names a missing file', async () => {
    const p = join(dir, 'missing.onnx');
    await expect(readFileBytes(p)).rejects.toThrow(FileAccessError);
    await expect(readFileBytes(p)).rejects.toThrow(p);
  });
});
