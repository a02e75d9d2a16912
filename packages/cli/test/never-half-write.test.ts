import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readModel, writeModel } from '@pg/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, FIXTURES, ROOT, pg, tempDir } from './support/pg.js';

/**
 * A write that fails (disk full, read-only folder, a folder in the way) must leave the previous output
 * exactly as it was, leave no temp file behind, and exit with PG_FILE_ACCESS saying what to do.
 *
 * Disk full and read-only are real, not simulated: the command runs in a private mount namespace
 * (`unshare -rm`, no root needed) on a small tmpfs filled to the brim, or on a read-only bind mount.
 * Where user namespaces are unavailable those two cases are skipped and say so.
 */
const canUnshare = spawnSync('unshare', ['-rm', 'true']).status === 0;
if (!canUnshare) console.warn('never-half-write: `unshare -rm` is unavailable here; skipping the disk-full and read-only folder cases');
const unshareNote = canUnshare ? '' : ' (skipped: `unshare -rm` is unavailable here: no user namespaces)';

const OLD = 'the previous output, which must survive\n';

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  tmp = await tempDir();
});
afterAll(async () => {
  await tmp.remove();
});

interface Run {
  code: number | null;
  stderr: string;
  /** What the script printed after pg: the output file's content and the folder listing. */
  after: string;
}

/** Runs `setup`, then pg with `args`, then `check`, all in one private mount namespace. */
function inNamespace(setup: string, args: string[], check: string): Promise<Run> {
  const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const script = `set -e\n${setup}\nset +e\n${quoted} 2>"$ERR_FILE"\ncode=$?\n${check}\nexit $code`;
  return new Promise((resolve, reject) => {
    const errFile = join(tmp.dir, `stderr-${Math.random().toString(36).slice(2)}.txt`);
    const child = spawn('unshare', ['-rm', 'sh', '-c', script], {
      cwd: ROOT,
      env: { ...process.env, CI: 'true', PG_DEBUG: undefined, ERR_FILE: errFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let after = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (after += d));
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', (code) => {
      void readFile(errFile, 'utf8').then((stderr) => resolve({ code, stderr, after }), reject);
    });
  });
}

describe.concurrent('a failed write leaves the previous output intact', () => {
  it.skipIf(!canUnshare)(`disk full: PG_FILE_ACCESS "disk full", old model unchanged, no temp file${unshareNote}`, async ({ expect }) => {
    const mnt = join(tmp.dir, 'full');
    await mkdir(mnt);
    const out = join(mnt, 'gated.onnx');
    const run = await inNamespace(
      // 64 KiB of tmpfs, the old output, then a filler until the file system refuses more.
      `mount -t tmpfs -o size=64k tmpfs '${mnt}'\nprintf '%s' '${OLD.trim()}' > '${out}'\nhead -c 1000000 /dev/zero > '${mnt}/filler' 2>/dev/null || true`,
      ['convert', FIXTURES.tiny, '-o', out],
      `cat '${out}'; echo; ls -A '${mnt}'`,
    );
    expect(run.code, run.stderr).toBe(6);
    expect(run.stderr).toMatch(new RegExp(`^Error \\[PG_FILE_ACCESS\\]: Cannot write '${out}': disk full`));
    expect(run.stderr).toMatch(/^Action: Free some disk space/m);
    expect(run.after).toBe(`${OLD.trim()}\nfiller\ngated.onnx\n`);
  });

  it.skipIf(!canUnshare)(`read-only folder: PG_FILE_ACCESS "not writable", old model unchanged${unshareNote}`, async ({ expect }) => {
    const folder = join(tmp.dir, 'read-only');
    await mkdir(folder);
    const out = join(folder, 'gated.onnx');
    await writeFile(out, OLD);
    // A read-only bind mount refuses writes even to root, unlike chmod.
    const run = await inNamespace(`mount --bind '${folder}' '${folder}'\nmount -o remount,bind,ro '${folder}'`, ['convert', FIXTURES.tiny, '-o', out], `ls -A '${folder}'`);
    expect(run.code, run.stderr).toBe(6);
    expect(run.stderr).toMatch(new RegExp(`^Error \\[PG_FILE_ACCESS\\]: Cannot write '${out}': not writable`));
    expect(run.stderr).toMatch(/^Action: \S/m);
    expect(run.after).toBe('gated.onnx\n');
    expect(await readFile(out, 'utf8')).toBe(OLD);
  });

  it('the second of two files cannot be written: neither old file changes', async ({ expect }) => {
    // A model with external data is written as two files, data first. A folder where the data file goes
    // makes that rename fail after the model's temp file is complete: the old model must stay as it was.
    const dir = join(tmp.dir, 'two-files');
    await mkdir(dir);
    const input = join(dir, 'external.onnx');
    await writeModel(await readModel(FIXTURES.tiny), input, { externalData: 'all' });
    const out = join(dir, 'gated.onnx');
    await writeFile(out, OLD);
    await mkdir(`${out}.data`);
    const run = await pg(['convert', input, '-o', out]);
    expect(run.code, run.stderr).toBe(6);
    expect(run.stderr).toMatch(new RegExp(`^Error \\[PG_FILE_ACCESS\\]: Cannot write '${out}\\.data': the path is a folder`));
    expect(run.stderr).toMatch(/^Action: Give a file name, not a folder\./m);
    expect(await readFile(out, 'utf8')).toBe(OLD);
    expect((await readdir(dir)).sort()).toEqual(['external.onnx', 'external.onnx.data', 'gated.onnx', 'gated.onnx.data']);
  });
});

describe('pg run writes its .npy outputs atomically', () => {
  it.skipIf(!canUnshare)(`disk full while writing outputs: the old output file stays${unshareNote}`, async () => {
    const mnt = join(tmp.dir, 'run-full');
    await mkdir(mnt);
    const input = join(tmp.dir, 'input.npy');
    // One Fashion-MNIST-sized sample of zeros: the tiny model's input.
    const { encodeNpy } = await import('@pg/core/internal');
    await writeFile(input, encodeNpy({ dtype: 'float32', shape: [1, 1, 28, 28], data: new Float32Array(784) }));
    const out = join(mnt, 'logits.npy');
    const run = await inNamespace(
      `mount -t tmpfs -o size=16k tmpfs '${mnt}'\nprintf '%s' '${OLD.trim()}' > '${out}'\nhead -c 1000000 /dev/zero > '${mnt}/filler' 2>/dev/null || true`,
      ['run', FIXTURES.tiny, '--input', input, '-o', out],
      `cat '${out}'; echo; ls -A '${mnt}'`,
    );
    expect(run.code, run.stderr).toBe(6);
    expect(run.stderr).toMatch(/^Error \[PG_FILE_ACCESS\]: Cannot write .*logits\.npy': disk full/);
    expect(run.after).toBe(`${OLD.trim()}\nfiller\nlogits.npy\n`);
  });
});
