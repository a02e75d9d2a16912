import { copyFile, mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { constTensor, decodeModel, encodeModel, encodeNpy, writeModel, type Model, type NpyArray } from '@pg/core/internal';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { BUNDLED_TEST, FIXTURES, ROOT, json, pg, tempDir } from './support/pg.js';
import { schemaErrors } from './support/schemas.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let notOnnx: string;
/** Bad inputs made from the tiny fixture, by name (see makeBadInputs). */
const bad: Record<string, string> = {};
beforeAll(async () => {
  tmp = await tempDir();
  notOnnx = join(tmp.dir, 'notes.onnx');
  await writeFile(notOnnx, 'this is a text file, not a protobuf ONNX model\n');
  Object.assign(bad, await makeBadInputs(tmp.dir));
});
afterAll(async () => {
  await tmp.remove();
});

const out = (): string => join(tmp.dir, 'out.onnx');

/** Each bad input, the exit code and error code it must give (docs/exit-codes.md). */
const cases: { name: string; args: () => string[]; env?: () => Record<string, string>; status: number; code: string; message: RegExp }[] = [
  {
    name: 'a missing model file',
    args: () => ['convert', join(tmp.dir, 'missing.onnx'), '-o', out()],
    status: 6,
    code: 'PG_FILE_ACCESS',
    message: /missing\.onnx.*does not exist/,
  },
  { name: 'a file that is not ONNX', args: () => ['convert', notOnnx, '-o', out()], status: 3, code: 'PG_INVALID_MODEL', message: /notes\.onnx/ },
  { name: '--hbits not below --bits', args: () => ['convert', FIXTURES.tiny, '-o', out(), '--bits', '4', '--hbits', '4'], status: 2, code: 'PG_USAGE', message: /--hbits/ },
  { name: 'an unknown --include name', args: () => ['convert', FIXTURES.tiny, '-o', out(), '--include', 'no-such-node'], status: 2, code: 'PG_USAGE', message: /no-such-node/ },
  { name: 'an unknown flag', args: () => ['convert', FIXTURES.tiny, '-o', out(), '--frobnicate'], status: 2, code: 'PG_USAGE', message: /--frobnicate/ },
  { name: 'a non-numeric --bits', args: () => ['convert', FIXTURES.tiny, '-o', out(), '--bits', 'four'], status: 2, code: 'PG_USAGE', message: /--bits: expected an integer/ },
  { name: 'a missing MODEL argument', args: () => ['convert', '-o', out()], status: 2, code: 'PG_USAGE', message: /Missing 1 required arg/ },
  { name: 'output == input without --force', args: () => ['convert', FIXTURES.tiny, '-o', FIXTURES.tiny], status: 2, code: 'PG_USAGE', message: /is the input model/ },
  { name: '--data with a bad spec', args: () => ['convert', FIXTURES.tiny, '-o', out(), '--data', 'pictures.txt'], status: 2, code: 'PG_USAGE', message: /pictures\.txt/ },
  { name: 'a bad fashion-mnist split', args: () => ['report', FIXTURES.tiny, '--data', 'fashion-mnist:validation'], status: 2, code: 'PG_USAGE', message: /validation/ },
  { name: '--mean without --data', args: () => ['convert', FIXTURES.tiny, '-o', out(), '--mean', '0.5'], status: 2, code: 'PG_USAGE', message: /--data/ },
  { name: 'a missing .npz data file', args: () => ['report', FIXTURES.tiny, '--data', join(tmp.dir, 'nothing.npz')], status: 6, code: 'PG_FILE_ACCESS', message: /nothing\.npz/ },
  { name: 'an unknown command', args: () => ['frobnicate'], status: 2, code: 'PG_USAGE', message: /frobnicate/ },
  { name: 'an unknown --backend', args: () => ['report', FIXTURES.tiny, '--data', 'fashion-mnist:test', '--backend', 'gpu'], status: 2, code: 'PG_USAGE', message: /gpu/ },
  // One spelling per idea: the old one is refused, naming the new one.
  {
    name: 'pg sweep --steps, now --max-steps',
    args: () => ['sweep', FIXTURES.tiny, '--data', 'fashion-mnist:train', '--target-sparsity', '0.8', '--out-dir', join(tmp.dir, 'sweep'), '--steps', '2'],
    status: 2,
    code: 'PG_USAGE',
    message: /--steps: this flag is now --max-steps\./,
  },
  {
    name: 'pg finetune --steps=5',
    args: () => ['finetune', FIXTURES.tiny, '--data', 'fashion-mnist:train', '-o', out(), '--steps=5'],
    status: 2,
    code: 'PG_USAGE',
    message: /--steps: this flag is now --max-steps/,
  },
];

/**
 * Bad input of every kind pg meets unattended: the message names the file, node, tensor or flag
 * at fault. The --json envelope is the same mapping as above, so these run once, without --json.
 */
const badInputCases: typeof cases = [
  // Bad models.
  { name: 'an empty model file', args: () => ['convert', bad.empty, '-o', out()], status: 3, code: 'PG_INVALID_MODEL', message: /empty\.onnx: the file is empty/ },
  { name: 'a truncated model', args: () => ['convert', bad.truncated, '-o', out()], status: 3, code: 'PG_INVALID_MODEL', message: /truncated\.onnx: .*truncated/ },
  { name: 'an opset newer than pg knows', args: () => ['convert', bad.opset, '-o', out()], status: 4, code: 'PG_UNSUPPORTED', message: /opset\.onnx: .*opset 99, newer than/ },
  { name: 'an op pg cannot run', args: () => ['convert', bad.unsupportedOp, '-o', out()], status: 4, code: 'PG_UNSUPPORTED', message: /node '\/Relu' uses op 'FrobnicateOp'/ },
  {
    name: 'a graph with a cycle',
    args: () => ['report', bad.cycle, '--data', BUNDLED_TEST],
    status: 3,
    code: 'PG_INVALID_MODEL',
    message: /cycle\.onnx: the graph has a cycle through node '\/conv1\/Conv'/,
  },
  {
    name: 'a missing initializer',
    args: () => ['convert', bad.missingInit, '-o', out()],
    status: 3,
    code: 'PG_INVALID_MODEL',
    message: /node '\/conv2\/Conv' \(Conv\) reads 'conv2\.weight', which no node, input or initializer provides/,
  },
  {
    name: 'a missing external data file',
    args: () => ['convert', bad.externalMissing, '-o', out()],
    status: 6,
    code: 'PG_FILE_ACCESS',
    message: /external data file .*model\.onnx\.data', which does not exist/,
  },
  {
    name: "an external data location with '../'",
    args: () => ['convert', bad.externalEscape, '-o', out()],
    status: 3,
    code: 'PG_INVALID_MODEL',
    message: /location '\.\.\/xxxxxxx\.data', which points outside the model's folder/,
  },
  {
    name: 'NaN in the weights',
    args: () => ['convert', bad.nanWeights, '-o', out()],
    status: 3,
    code: 'PG_INVALID_MODEL',
    message: /nan\.onnx: initializer 'conv2\.weight' holds NaN at index 3/,
  },
  // Data that does not fit.
  {
    name: 'data with the wrong channel count',
    args: () => ['report', FIXTURES.tiny, '--data', bad.rgbData],
    status: 5,
    code: 'PG_INVALID_DATA',
    message: /samples of shape \[3, 28, 28\].*\[1, 28, 28\]/,
  },
  {
    name: 'labels out of range',
    args: () => ['report', FIXTURES.tiny, '--data', bad.x4, '--labels', bad.y4OutOfRange],
    status: 5,
    code: 'PG_INVALID_DATA',
    message: /label 10 at sample 3, but the model has 10 classes/,
  },
  {
    name: 'an NPY of the wrong dtype',
    args: () => ['report', FIXTURES.tiny, '--data', bad.int16Data],
    status: 5,
    code: 'PG_INVALID_DATA',
    message: /int16\.npy has dtype int16; samples must be float32/,
  },
  {
    name: 'inputs and labels of different lengths',
    args: () => ['report', FIXTURES.tiny, '--data', bad.x4, '--labels', bad.y3],
    status: 5,
    code: 'PG_INVALID_DATA',
    message: /y3\.npy has 3 labels but .*x4\.npy has 4 samples/,
  },
  { name: 'an empty data set', args: () => ['report', FIXTURES.tiny, '--data', bad.emptyData], status: 5, code: 'PG_INVALID_DATA', message: /empty\.npy is empty/ },
  {
    name: 'images that fail to decode',
    args: () => ['report', FIXTURES.tiny, '--data', 'fashion-mnist:test'],
    env: () => ({ PG_DATA_DIR: bad.corruptImagesDir }),
    status: 5,
    code: 'PG_INVALID_DATA',
    message: /t10k-images-idx3-ubyte\.gz .*cannot be decompressed/,
  },
  // Flags.
  { name: '--bits out of range', args: () => ['convert', FIXTURES.tiny, '-o', out(), '--bits', '17'], status: 2, code: 'PG_USAGE', message: /--bits 17 is out of range/ },
  { name: 'a missing --data', args: () => ['report', FIXTURES.tiny], status: 2, code: 'PG_USAGE', message: /^Error \[PG_USAGE\]: Missing required flag --data/ },
];

// Each case is a separate process, mostly waiting on start-up: run them side by side.
describe.concurrent('exit codes and error output', () => {
  for (const c of [...cases, ...badInputCases]) {
    it(`${c.name}: exit ${c.status}, "Error [${c.code}]" and an Action on stderr`, async ({ expect }) => {
      const run = await pg(c.args(), { env: c.env?.() });
      expect(run.code, run.stderr).toBe(c.status);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(new RegExp(`^Error \\[${c.code}\\]: `));
      expect(run.stderr).toMatch(c.message);
      expect(run.stderr).toMatch(/^Action: \S/m);
      // No stack trace unless PG_DEBUG=1.
      expect(run.stderr).not.toMatch(/^\s+at /m);
    });

    if (!cases.includes(c)) continue;
    it(`${c.name} with --json: the error envelope on stdout`, async ({ expect }) => {
      const run = await pg([...c.args(), '--json'], { env: c.env?.() });
      expect(run.code).toBe(c.status);
      const doc = json(run);
      expect(schemaErrors('envelope', doc)).toEqual([]);
      expect(doc).toMatchObject({ status: c.status, code: c.code });
      expect(doc.message).toMatch(c.message);
    });
  }

  it('PG_DEBUG=1 adds the stack trace', async ({ expect }) => {
    const run = await pg(['convert', notOnnx, '-o', out()], { env: { PG_DEBUG: '1' } });
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/^\s+at /m);
  });
});

/** Writes each kind of bad input into `dir`, made from the tiny fixture so the fault is the only difference. */
async function makeBadInputs(dir: string): Promise<Record<string, string>> {
  const fixture = await readFile(FIXTURES.tiny);
  const tiny = (): Model => decodeModel(fixture, FIXTURES.tiny);
  const files: Record<string, string> = {};
  const put = async (key: string, name: string, bytes: Uint8Array | string): Promise<void> => {
    files[key] = join(dir, name);
    await writeFile(files[key], bytes);
  };
  const npy = (key: string, name: string, a: NpyArray): Promise<void> => put(key, name, encodeNpy(a));

  await put('empty', 'empty.onnx', '');
  await put('truncated', 'truncated.onnx', fixture.subarray(0, Math.floor(fixture.length / 2)));
  const opset = tiny();
  opset.opsetImports = [{ domain: '', version: 99 }];
  await put('opset', 'opset.onnx', encodeModel(opset));
  const unsupported = tiny();
  unsupported.graph.nodes[1].opType = 'FrobnicateOp'; // the first Relu
  await put('unsupportedOp', 'unsupported.onnx', encodeModel(unsupported));
  const cycle = tiny();
  cycle.graph.nodes[0].inputs[0] = cycle.graph.nodes[3].outputs[0]; // conv1 reads the second Relu
  await put('cycle', 'cycle.onnx', encodeModel(cycle));
  const missing = tiny();
  missing.graph.initializers.delete('conv2.weight');
  await put('missingInit', 'missing-init.onnx', encodeModel(missing));
  const nan = tiny();
  const w = nan.graph.initializers.get('conv2.weight')!;
  const values = Float32Array.from(w.data() as Float32Array);
  values[3] = NaN;
  nan.graph.initializers.set(w.name, constTensor(w.name, w.dtype, w.dims, values));
  await put('nanWeights', 'nan.onnx', encodeModel(nan));

  // External data: a model whose weights live in model.onnx.data, then the data file removed.
  await mkdir(join(dir, 'ext-missing'));
  files.externalMissing = join(dir, 'ext-missing', 'model.onnx');
  await writeModel(tiny(), files.externalMissing, { externalData: 'all' });
  await rm(`${files.externalMissing}.data`);
  // ...and one whose location leaves the model's folder: the location string is patched in place (same
  // length, so the protobuf stays valid), since pg itself never writes such a model.
  await mkdir(join(dir, 'ext-escape'));
  const escape = join(dir, 'ext-escape', 'model.onnx');
  await writeModel(tiny(), escape, { externalData: 'all' });
  const patched = Buffer.from(await readFile(escape))
    .toString('latin1')
    .replaceAll('model.onnx.data', '../xxxxxxx.data');
  await put('externalEscape', join('ext-escape', 'model.onnx'), Buffer.from(patched, 'latin1'));

  const image = 28 * 28;
  await npy('rgbData', 'rgb.npy', { dtype: 'float32', shape: [2, 3, 28, 28], data: new Float32Array(2 * 3 * image) });
  await npy('x4', 'x4.npy', { dtype: 'float32', shape: [4, 1, 28, 28], data: new Float32Array(4 * image) });
  await npy('y3', 'y3.npy', { dtype: 'int64', shape: [3], data: new BigInt64Array(3) });
  await npy('y4OutOfRange', 'y4.npy', { dtype: 'int64', shape: [4], data: BigInt64Array.from([0n, 1n, 2n, 10n]) });
  await npy('int16Data', 'int16.npy', { dtype: 'int16', shape: [2, 1, 28, 28], data: new Int16Array(2 * image) });
  await npy('emptyData', 'empty.npy', { dtype: 'float32', shape: [0, 1, 28, 28], data: new Float32Array(0) });

  // Fashion-MNIST images whose gzip stream is cut short, with intact labels.
  const images = join(dir, 'corrupt-images');
  await mkdir(images);
  const bundled = join(ROOT, 'fixtures/data/fashion-mnist');
  await copyFile(join(bundled, 't10k-labels-idx1-ubyte.gz'), join(images, 't10k-labels-idx1-ubyte.gz'));
  await copyFile(join(bundled, 't10k-images-idx3-ubyte.gz'), join(images, 't10k-images-idx3-ubyte.gz'));
  await truncate(join(images, 't10k-images-idx3-ubyte.gz'), 1000);
  files.corruptImagesDir = images;
  return files;
}
