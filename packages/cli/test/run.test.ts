import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeNpy, maxRelativeDifference, readModel, readNpyFile, writeModel } from '@pg/core/internal';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, json, pg, tempDir } from './support/pg.js';
import { schemaErrors } from './support/schemas.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
/** A batch of 4 for the tiny CNN, float32. */
let x: string;
beforeAll(async () => {
  tmp = await tempDir();
  x = join(tmp.dir, 'x.npy');
  const n = 4 * 28 * 28;
  await writeFile(x, encodeNpy({ dtype: 'float32', shape: [4, 1, 28, 28], data: Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.1) * 1.5) }));
});
afterAll(async () => {
  await tmp.remove();
});

async function runJson(args: string[]): Promise<Record<string, unknown>> {
  const run = await pg([...args, '--json']);
  expect(run.code, run.stdout + run.stderr).toBe(0);
  expect(run.stderr).toBe('');
  const doc = json(run);
  expect(schemaErrors('envelope', doc)).toEqual([]);
  expect(schemaErrors('run', doc.result)).toEqual([]);
  return doc.result as Record<string, unknown>;
}

async function logits(path: string): Promise<Float32Array> {
  const a = await readNpyFile(path);
  expect(a).toMatchObject({ dtype: 'float32', shape: [4, 10] });
  return a.data as Float32Array;
}

describe('pg run', () => {
  it("runs the tiny CNN on pg's wasm backend and on ONNX Runtime to the same outputs (1e-4 relative)", async () => {
    const ours = join(tmp.dir, 'y-wasm.npy');
    const theirs = join(tmp.dir, 'y-ort.npy');
    const a = await runJson(['run', FIXTURES.tiny, '--input', x, '-o', ours]);
    const b = await runJson(['run', FIXTURES.tiny, '--input', `input=${x}`, '-o', theirs, '--runtime', 'onnxruntime', '--output-name', 'logits']);
    expect(a).toMatchObject({
      runtime: 'pg',
      backend: 'wasm',
      inputs: [{ name: 'input', file: x, dtype: 'float32', shape: [4, 1, 28, 28], file_dtype: 'float32' }],
      outputs: [{ name: 'logits', file: ours, dtype: 'float32', shape: [4, 10] }],
    });
    expect(b).toMatchObject({ runtime: 'onnxruntime', backend: null, outputs: [{ name: 'logits', file: theirs }] });
    expect(maxRelativeDifference(await logits(ours), await logits(theirs))).toBeLessThan(1e-4);
  });

  it('runs a gated model from pg convert on both runtimes alike', async () => {
    const gated = join(tmp.dir, 'gated.onnx');
    expect((await pg(['convert', FIXTURES.tiny, '-o', gated, '--act-scale', 'dynamic'])).code).toBe(0);
    const ours = join(tmp.dir, 'g-wasm.npy');
    const theirs = join(tmp.dir, 'g-ort.npy');
    await runJson(['run', gated, '-i', x, '-o', ours]);
    await runJson(['run', gated, '-i', x, '-o', theirs, '--runtime', 'onnxruntime']);
    expect(maxRelativeDifference(await logits(ours), await logits(theirs))).toBeLessThan(1e-4);
  });

  it('runs pg on the TensorFlow.js backend --backend names', async () => {
    const ours = join(tmp.dir, 'y-cpu.npy');
    const reference = join(tmp.dir, 'y-cpu-ort.npy');
    expect(await runJson(['run', FIXTURES.tiny, '--input', x, '-o', ours, '--backend', 'cpu'])).toMatchObject({ runtime: 'pg', backend: 'cpu' });
    await runJson(['run', FIXTURES.tiny, '--input', x, '-o', reference, '--runtime', 'onnxruntime']);
    expect(maxRelativeDifference(await logits(ours), await logits(reference))).toBeLessThan(1e-4);
  });

  it('prints what it read and wrote for humans', async () => {
    const out = join(tmp.dir, 'y-human.npy');
    const run = await pg(['run', FIXTURES.tiny, '--input', x, '-o', out]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^input\s+input\s+float32\s+\[4, 1, 28, 28\]\s+\S*x\.npy$/m);
    expect(run.stdout).toMatch(/^output\s+logits\s+float32\s+\[4, 10\]\s+\S*y-human\.npy$/m);
    expect(run.stdout).toMatch(/^Wrote \S*y-human\.npy \(pg on wasm: run .*\)\.$/m);
  });

  it('writes into a folder when -o names one', async () => {
    const result = await runJson(['run', FIXTURES.tiny, '--input', x, '-o', `${tmp.dir}/`]);
    expect(result.outputs).toEqual([{ name: 'logits', file: join(tmp.dir, 'logits.npy'), dtype: 'float32', shape: [4, 10] }]);
    await logits(join(tmp.dir, 'logits.npy'));
  });
});

describe.concurrent('pg run: bad inputs', () => {
  const cases: { name: string; args: () => Promise<string[]>; status: number; code: string; message: RegExp }[] = [
    {
      name: 'a missing .npy file',
      args: async () => ['run', FIXTURES.tiny, '--input', join(tmp.dir, 'nothing.npy'), '-o', join(tmp.dir, 'o1.npy')],
      status: 6,
      code: 'PG_FILE_ACCESS',
      message: /nothing\.npy/,
    },
    {
      name: 'an array of the wrong shape',
      args: async () => {
        const bad = join(tmp.dir, 'bad-shape.npy');
        await writeFile(bad, encodeNpy({ dtype: 'float32', shape: [4, 28, 28], data: new Float32Array(4 * 28 * 28) }));
        return ['run', FIXTURES.tiny, '--input', bad, '-o', join(tmp.dir, 'o2.npy')];
      },
      status: 5,
      code: 'PG_INVALID_DATA',
      message: /bad-shape\.npy has shape \[4, 28, 28\], but the model's input 'input' expects \[N, 1, 28, 28\]/,
    },
    {
      name: 'an unknown input name',
      args: async () => ['run', FIXTURES.tiny, '--input', `image=${x}`, '-o', join(tmp.dir, 'o3.npy')],
      status: 2,
      code: 'PG_USAGE',
      message: /no input named 'image'/,
    },
    {
      name: 'an unknown output name',
      args: async () => ['run', FIXTURES.tiny, '--input', x, '-o', join(tmp.dir, 'o4.npy'), '--output-name', 'probs'],
      status: 2,
      code: 'PG_USAGE',
      message: /no output named 'probs'/,
    },
    {
      name: 'a model with an op pg cannot run',
      args: async () => {
        const model = await readModel(FIXTURES.tiny);
        const nodes = model.graph.nodes.map((n) => (n.opType === 'MaxPool' ? { ...n, opType: 'NoSuchOp', domain: 'com.example' } : n));
        const path = join(tmp.dir, 'unsupported.onnx');
        await writeModel({ ...model, opsetImports: [...model.opsetImports, { domain: 'com.example', version: 1 }], graph: { ...model.graph, nodes } }, path);
        return ['run', path, '--input', x, '-o', join(tmp.dir, 'o6.npy')];
      },
      status: 4,
      code: 'PG_UNSUPPORTED',
      message: /NoSuchOp/,
    },
    {
      name: 'an unknown backend',
      args: async () => ['run', FIXTURES.tiny, '--input', x, '-o', join(tmp.dir, 'o5.npy'), '--backend', 'gpu'],
      status: 2,
      code: 'PG_USAGE',
      message: /gpu/,
    },
    {
      name: '--backend onnxruntime, which --runtime chooses',
      args: async () => ['run', FIXTURES.tiny, '--input', x, '-o', join(tmp.dir, 'o7.npy'), '--backend', 'onnxruntime'],
      status: 2,
      code: 'PG_USAGE',
      message:
        /^Error \[PG_USAGE\]: --backend: 'onnxruntime' is not a TensorFlow\.js backend .*use --runtime onnxruntime\.\nAction: Write --runtime onnxruntime instead of --backend onnxruntime\./,
    },
    {
      name: 'a --backend for ONNX Runtime',
      args: async () => ['run', FIXTURES.tiny, '--input', x, '-o', join(tmp.dir, 'o8.npy'), '--runtime', 'onnxruntime', '--backend', 'cpu'],
      status: 2,
      code: 'PG_USAGE',
      message: /--backend cpu picks the TensorFlow\.js backend of --runtime pg/,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: exit ${c.status} (${c.code}), nothing written`, async ({ expect }) => {
      const args = await c.args();
      const run = await pg(args);
      expect(run.code, run.stderr).toBe(c.status);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(new RegExp(`^Error \\[${c.code}\\]: `));
      expect(run.stderr).toMatch(c.message);
      expect(run.stderr).toMatch(/^Action: \S/m);
      const withJson = await pg([...args, '--json']);
      expect(withJson.code).toBe(c.status);
      expect(json(withJson)).toMatchObject({ status: c.status, code: c.code });
      await expect(readNpyFile(args[args.indexOf('-o') + 1])).rejects.toThrow();
    });
  }

  it('--backend is wasm|cpu|node in every command: onnxruntime is refused', async ({ expect }) => {
    const run = await pg(['inspect', FIXTURES.tiny, '--backend', 'onnxruntime']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/onnxruntime/);
  });
});
