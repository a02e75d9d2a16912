import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureModel, fixtureSkipNote, hasFixture } from '../../test/fixtures.js';
import { buildModel, int, node, valueInfo } from '../../test/support/model-builder.js';
import { readNpyFile } from '../data/npy.js';
import { InvalidDataError, UsageError } from '../errors/index.js';
import type { Model, ValueInfo } from '../graph/index.js';
import { readModel, writeModel } from '../onnx/index.js';
import { maxRelativeDifference } from '../metrics/agreement.js';
import { convertModel } from '../gating/index.js';
import { bindInputs, castHostTensor, npyFileName, parseInputSpec, prepareFeed, RUN_ENGINES, runEngine, runModel, runModelOnFiles, type HostTensor } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'pg-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sample(shape: number[], seed = 1): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', shape, data: Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) * 2) };
}

/** y = x + Cast(k): a float32 and an int64 input, symbolic batch 'N'. */
function twoInputModel(): Model {
  const vi = (name: string, dtype: ValueInfo['dtype']): ValueInfo => valueInfo(name, ['N', 4], dtype);
  return buildModel({
    nodes: [node('Cast', ['k'], 'kf', { to: int(1) }, 'cast'), node('Add', ['x', 'kf'], 'y', {}, 'add')],
    inputs: [vi('x', 'float32'), vi('k', 'int64')],
    outputs: [vi('y', 'float32'), vi('kf', 'float32')],
  });
}

describe('feeds', () => {
  const model = twoInputModel();

  it('parses --input specs: NAME=FILE for a model input, FILE otherwise', () => {
    expect(parseInputSpec('x.npy', model)).toEqual({ path: 'x.npy' });
    expect(parseInputSpec('k=a=b.npy', model)).toEqual({ name: 'k', path: 'a=b.npy' });
    expect(() => parseInputSpec('z=x.npy', model)).toThrow(UsageError);
    expect(() => parseInputSpec('z=x.npy', model)).toThrow(/no input named 'z'.*/);
  });

  it('binds named specs by name and the rest in order', () => {
    const b = bindInputs(model, [{ path: 'a' }, { name: 'x', path: 'b' }]);
    expect(Object.fromEntries([...b].map(([k, v]) => [k, v.path]))).toEqual({ x: 'b', k: 'a' });
    expect(() => bindInputs(model, [{ path: 'a' }])).toThrow(/no data for the model input\(s\) 'k'/);
    expect(() => bindInputs(model, [{ path: 'a' }, { path: 'b' }, { path: 'c' }])).toThrow(/3 inputs given, but the model has 2/);
    expect(() =>
      bindInputs(model, [
        { name: 'x', path: 'a' },
        { name: 'x', path: 'b' },
      ]),
    ).toThrow(/given twice/);
    expect(() => bindInputs(model, [{ name: 'q', path: 'a' }])).toThrow(UsageError);
  });

  it('checks shapes against the declared ones, symbolic dims consistently across inputs', () => {
    const [x, k] = model.graph.inputs;
    const symbols = new Map<string, number>();
    expect(prepareFeed(x, sample([2, 4]), 'x.npy', symbols).shape).toEqual([2, 4]);
    expect(() => prepareFeed(k, { dtype: 'int64', shape: [3, 4], data: new BigInt64Array(12) }, 'k.npy', symbols)).toThrow(/'N'\) is 3, but another input has N = 2/);
    expect(() => prepareFeed(x, sample([2, 5]), 'x.npy', new Map())).toThrow(InvalidDataError);
    expect(() => prepareFeed(x, sample([8]), 'x.npy', new Map())).toThrow(/x\.npy has shape \[8\], but the model's input 'x' expects \[N, 4\]: 1 dimension\(s\) instead of 2/);
  });

  it('converts dtypes: float64 and ints to float32, integral values to int64, refuses fractions for ints', () => {
    const f64: HostTensor = { dtype: 'float64', shape: [2], data: Float64Array.from([1.5, -2]) };
    expect(castHostTensor(f64, 'float32', 'a')).toEqual({ dtype: 'float32', shape: [2], data: Float32Array.from([1.5, -2]) });
    const i32: HostTensor = { dtype: 'int32', shape: [2], data: Int32Array.from([3, -4]) };
    expect(castHostTensor(i32, 'int64', 'a').data).toEqual(BigInt64Array.from([3n, -4n]));
    expect(castHostTensor({ dtype: 'int64', shape: [1], data: BigInt64Array.from([7n]) }, 'float32', 'a').data).toEqual(Float32Array.from([7]));
    expect(() => castHostTensor(f64, 'int64', 'a.npy')).toThrow(/a\.npy: element 0 \(1\.5\) is not an integer/);
    expect(() => castHostTensor({ dtype: 'int64', shape: [1], data: BigInt64Array.from([300n]) }, 'uint8', 'a')).toThrow(InvalidDataError);
  });

  it('names output files safely', () => {
    expect(npyFileName('/Relu_output_0')).toBe('_Relu_output_0');
    expect(npyFileName('..')).toBe('_');
    expect(npyFileName('logits')).toBe('logits');
  });
});

describe('run engines', () => {
  it('knows the interpreter on each tfjs backend and onnxruntime, and refuses others', () => {
    expect(RUN_ENGINES).toEqual(['wasm', 'cpu', 'node', 'onnxruntime']);
    expect(runEngine('onnxruntime').name).toBe('onnxruntime');
    expect(() => runEngine('gpu')).toThrow(UsageError);
  });

  it('runs a model with a float and an int64 input on wasm and onnxruntime alike', async () => {
    const model = twoInputModel();
    const feeds: Record<string, HostTensor> = {
      x: sample([3, 4]),
      k: { dtype: 'int32', shape: [3, 4], data: Int32Array.from({ length: 12 }, (_, i) => i - 5) },
    };
    const ours = await runModel(model, feeds, { engine: 'wasm', outputs: ['y', 'kf'] });
    const theirs = await runModel(model, feeds, { engine: 'onnxruntime', outputs: ['y', 'kf'] });
    expect(ours.inputs.k.dtype).toBe('int64');
    for (const name of ['y', 'kf']) {
      expect(ours.outputs[name].dtype).toBe('float32');
      expect(ours.outputs[name].shape).toEqual([3, 4]);
      expect(theirs.outputs[name].shape).toEqual([3, 4]);
      expect(maxRelativeDifference(ours.outputs[name].data as Float32Array, theirs.outputs[name].data as Float32Array)).toBeLessThan(1e-6);
    }
    expect(ours.outputs.kf.data[0]).toBe(-5);
    expect(ours.elapsedMs).toBeGreaterThanOrEqual(0);
  });
});

describe.skipIf(!hasFixture('tiny-cnn'))(`runModel on tiny-cnn${fixtureSkipNote('tiny-cnn')}`, () => {
  let model: Model;
  const x = sample([3, 1, 28, 28], 2);
  beforeAll(async () => {
    model = await readModel(fixtureModel('tiny-cnn'));
  });

  it('pg (wasm) and ONNX Runtime agree to 1e-4 relative', async () => {
    const ours = await runModel(model, { input: x }, { engine: 'wasm' });
    const theirs = await runModel(model, { input: x }, { engine: 'onnxruntime' });
    expect(Object.keys(ours.outputs)).toEqual(['logits']);
    expect(ours.outputs.logits.shape).toEqual([3, 10]);
    expect(maxRelativeDifference(ours.outputs.logits.data as Float32Array, theirs.outputs.logits.data as Float32Array)).toBeLessThan(1e-4);
  });

  it('runs a gated model read from disk on both engines alike', async () => {
    const path = join(dir, 'tiny-gated.onnx');
    await writeModel(convertModel(model, { bits: 4, hbits: 2, wbits: 8, actScale: 'dynamic' }).model, path);
    const gated = await readModel(path);
    const ours = await runModel(gated, { input: x }, { engine: 'wasm' });
    const theirs = await runModel(gated, { input: x }, { engine: 'onnxruntime' });
    expect(maxRelativeDifference(ours.outputs.logits.data as Float32Array, theirs.outputs.logits.data as Float32Array)).toBeLessThan(1e-4);
  });

  it('reads .npy inputs and writes each requested output, into a folder when there are several', async () => {
    const { writeFile } = await import('node:fs/promises');
    const { encodeNpy } = await import('../data/npy.js');
    const xPath = join(dir, 'x.npy');
    await writeFile(xPath, encodeNpy({ dtype: 'float64', shape: x.shape, data: Float64Array.from(x.data as Float32Array) }));
    const extra: Model = { ...model, graph: { ...model.graph, outputs: [...model.graph.outputs, { name: '/Relu_output_0', dtype: 'float32' }] } };
    const out = join(dir, 'outs');
    const r = await runModelOnFiles(extra, { inputs: [{ path: xPath }], output: out, outputNames: ['logits', '/Relu_output_0'] });
    expect(r.inputs).toEqual([{ name: 'input', file: xPath, dtype: 'float32', shape: [3, 1, 28, 28], file_dtype: 'float64' }]);
    expect(r.outputs.map((o) => [o.file, o.shape])).toEqual([
      [join(out, 'logits.npy'), [3, 10]],
      [join(out, '_Relu_output_0.npy'), [3, 8, 28, 28]],
    ]);
    const logits = await readNpyFile(join(out, 'logits.npy'));
    expect(logits).toMatchObject({ dtype: 'float32', shape: [3, 10] });

    const single = join(dir, 'y.npy');
    const one = await runModelOnFiles(model, { inputs: [{ name: 'input', path: xPath }], output: single });
    expect(one.outputs).toEqual([{ name: 'logits', file: single, dtype: 'float32', shape: [3, 10] }]);
    expect((await readNpyFile(single)).data).toEqual(logits.data);
    await expect(runModelOnFiles(extra, { inputs: [{ path: xPath }], output: single, outputNames: ['logits', '/Relu_output_0'] })).rejects.toThrow(
      /is a file, but 2 outputs need a folder/,
    );
  });
});
