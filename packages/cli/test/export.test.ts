import { copyFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_TRAIN, FIXTURES, json, pg, tempDir } from './support/pg.js';
import { schemaErrors } from './support/schemas.js';

interface ExportJson {
  format: string;
  files: { path: string; role: string; bytes: number }[];
  notes: string[];
}

let tmp: Awaited<ReturnType<typeof tempDir>>;
/** The tiny CNN gated with static scales calibrated on the bundled data (what hw-json needs). */
let gated: string;
beforeAll(async () => {
  tmp = await tempDir();
  gated = join(tmp.dir, 'tiny-gated.onnx');
  const run = await pg(['convert', FIXTURES.tiny, '-o', gated, '--data', BUNDLED_TRAIN, '--calibration-batches', '1', '--batch-size', '16']);
  expect(run.code).toBe(0);
});
afterAll(async () => {
  await tmp.remove();
});

describe('pg export', () => {
  it('--format onnx writes standard ONNX and a result that matches export.schema.json', async () => {
    const out = join(tmp.dir, 'tiny-std.onnx');
    const run = await pg(['export', gated, '--format', 'onnx', '-o', out, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const doc = json(run);
    expect(schemaErrors('envelope', doc)).toEqual([]);
    expect(schemaErrors('export', doc.result)).toEqual([]);
    const result = doc.result as ExportJson;
    expect(result.format).toBe('onnx');
    expect(result.files).toEqual([{ path: out, role: 'model', bytes: (await stat(out)).size }]);
    // Two gated layers and the first layer (QConv at 8 bits, convert's default).
    expect(result.notes.join('\n')).toMatch(/3 pg layer\(s\) inlined/);
    // No trace of the custom domain is left in the file.
    expect((await readFile(out)).includes('org.precisiongating')).toBe(false);
  });

  it("--format onnx-pg writes pg's own format and prints the files", async () => {
    const out = join(tmp.dir, 'tiny-pg.onnx');
    const run = await pg(['export', gated, '--format', 'onnx-pg', '-o', out]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/tiny-pg\.onnx\s+model\s+\d+/);
    expect(run.stdout).toMatch(/Exported .* as onnx-pg\./);
    expect((await readFile(out)).includes('org.precisiongating')).toBe(true);
  });

  it('--format hw-json writes the description and the tensor file next to it', async () => {
    const out = join(tmp.dir, 'tiny.hw.json');
    const run = await pg(['export', gated, '--format', 'hw-json', '-o', out, '--json']);
    expect(run.code).toBe(0);
    const result = json(run).result as ExportJson;
    expect(schemaErrors('export', result)).toEqual([]);
    expect(result.files.map((f) => [f.path, f.role])).toEqual([
      [join(tmp.dir, 'tiny.hw.bin'), 'tensors'],
      [out, 'description'],
    ]);
    const description = JSON.parse(await readFile(out, 'utf8')) as { format: string; tensor_file: string; nodes: { kind: string }[] };
    expect(description.format).toBe('pg-hw-json');
    expect(description.tensor_file).toBe('tiny.hw.bin');
    expect(description.nodes.filter((n) => n.kind === 'gated').length).toBe(2);
    expect((await stat(join(tmp.dir, 'tiny.hw.bin'))).size).toBe(result.files[0].bytes);
  });

  it('refuses a model that is not gated for hw-json (usage error, exit 2, says to convert first)', async () => {
    const run = await pg(['export', FIXTURES.tiny, '--format', 'hw-json', '-o', join(tmp.dir, 'float.json')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/Error \[PG_USAGE\].*tiny-cnn\.onnx is not a gated model/);
    expect(run.stderr).toMatch(/pg convert/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses dynamic activation scales for hw-json, naming the flag to use', async () => {
    const dynamic = join(tmp.dir, 'tiny-dynamic.onnx');
    expect((await pg(['convert', FIXTURES.tiny, '-o', dynamic, '--act-scale', 'dynamic'])).code).toBe(0);
    const run = await pg(['export', dynamic, '--format', 'hw-json', '-o', join(tmp.dir, 'dyn.json'), '--json']);
    expect(run.code).toBe(2);
    const doc = json(run);
    expect(schemaErrors('envelope', doc)).toEqual([]);
    const error = doc as { code: string; message: string; action: string };
    expect(error.code).toBe('PG_USAGE');
    expect(error.message).toMatch(/dynamic activation scales/);
    expect(error.action).toMatch(/--act-scale static/);
    await expect(stat(join(tmp.dir, 'dyn.json'))).rejects.toThrow();
  });

  it('refuses uncalibrated static scales for hw-json', async () => {
    const raw = join(tmp.dir, 'tiny-raw.onnx');
    expect((await pg(['convert', FIXTURES.tiny, '-o', raw])).code).toBe(0);
    const run = await pg(['export', raw, '--format', 'hw-json', '-o', join(tmp.dir, 'raw.json')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/never calibrated/);
  });

  it('refuses an unknown format as a usage error listing the formats', async () => {
    const run = await pg(['export', gated, '--format', 'tensorrt', '-o', join(tmp.dir, 'x.onnx')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/onnx.*onnx-pg.*hw-json/s);
  });

  it('refuses --backend FORMAT with a usage error that says to use --format (exit 2, nothing written)', async () => {
    const out = join(tmp.dir, 'old-spelling.onnx');
    for (const format of ['onnx', 'onnx-pg', 'hw-json']) {
      const run = await pg(['export', gated, '--backend', format, '-o', out]);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(new RegExp(`^Error \\[PG_USAGE\\]: --backend: '${format}' is not a TensorFlow\\.js backend .*use --format ${format}\\.$`, 'm'));
      expect(run.stderr).toMatch(new RegExp(`^Action: Write --format ${format} instead of --backend ${format}\\.$`, 'm'));
    }
    const withJson = await pg(['export', gated, '--backend=onnx', '--format', 'onnx', '-o', out, '--json']);
    expect(withJson.code).toBe(2);
    expect(json(withJson)).toMatchObject({ status: 2, code: 'PG_USAGE', action: 'Write --format onnx instead of --backend onnx.' });
    await expect(stat(out)).rejects.toThrow();
  });

  it('accepts the global --backend (the TensorFlow.js backend hw-json sizes the layers on)', async () => {
    const out = join(tmp.dir, 'tiny-cpu.hw.json');
    const run = await pg(['export', gated, '--format', 'hw-json', '-o', out, '--backend', 'cpu', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(schemaErrors('export', json(run).result)).toEqual([]);
  });

  it('will not overwrite its input without --force', async () => {
    const run = await pg(['export', gated, '--format', 'onnx-pg', '-o', gated]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--force/);
  });

  it('will not overwrite its input with any file the format declares (hw-json: the tensor file)', async () => {
    const asBin = join(tmp.dir, 'model.bin');
    await copyFile(gated, asBin);
    const run = await pg(['export', asBin, '--format', 'hw-json', '-o', join(tmp.dir, 'model.json')]);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toMatch(/model\.bin' is the input model/);
    expect(await readFile(asBin)).toEqual(await readFile(gated));
    await expect(stat(join(tmp.dir, 'model.json'))).rejects.toThrow();
  });
});
