import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildModel, int, node, valueInfo } from '../../test/support/model-builder.js';
import { FileAccessError, InvalidModelError } from '../errors/pg-error.js';
import type { Model } from '../graph/ir.js';
import { constTensor, type ConstTensor } from '../graph/tensor.js';
import { decodeModel, readModel, writeModel } from './index.js';
import type { onnx as P } from 'onnx-proto';
import { onnx } from './proto.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pg-ext-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const W = Float32Array.from({ length: 12 }, (_, i) => i / 4 - 1); // [3, 4]
const B = new Float32Array([0.5, -0.5, 1, 2]);
const X = new Float32Array([1, 2, 3, -1, 0, 1]); // [2, 3]

/** Y = X @ W + B, with W and B as initializers. */
function matMulAddModel(): Model {
  return buildModel({
    opset: 17,
    nodes: [node('MatMul', ['X', 'W'], 'XW', {}, 'mm'), node('Add', ['XW', 'B'], 'Y', {}, 'add')],
    initializers: [constTensor('W', 'float32', [3, 4], W), constTensor('B', 'float32', [4], B)],
    inputs: [valueInfo('X', ['N', 3])],
    outputs: [valueInfo('Y', ['N', 4])],
  });
}

function expectedY(): number[] {
  const y: number[] = [];
  for (let r = 0; r < 2; r++)
    for (let c = 0; c < 4; c++) {
      let s = B[c];
      for (let k = 0; k < 3; k++) s += X[r * 3 + k] * W[k * 4 + c];
      y.push(s);
    }
  return y;
}

async function runOrt(path: string): Promise<number[]> {
  const session = await ort.InferenceSession.create(path, { logSeverityLevel: 3 });
  const out = await session.run({ X: new ort.Tensor('float32', X, [2, 3]) });
  return Array.from(out.Y.data as Float32Array);
}

function externalEntries(modelPath: string): Map<string, Map<string, string>> {
  // protobufjs decodes into class instances whose repeated fields are always arrays.
  const graph = onnx.ModelProto.decode(readFileSync(modelPath)).graph as P.GraphProto;
  return new Map(graph.initializer.filter((t) => t.dataLocation === 1).map((t) => [t.name ?? '', new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']))]));
}

describe('external data', () => {
  it('writes tensors to <model>.data at 4096-aligned offsets, reads them lazily, and onnxruntime loads the result', async () => {
    const path = join(dir, 'model.onnx');
    const result = await writeModel(matMulAddModel(), path, { externalData: 'all', threshold: 1 });
    expect(result.dataPath).toBe(join(dir, 'model.onnx.data'));
    expect(result.externalTensors).toBe(2);

    const entries = externalEntries(path);
    expect([...entries.keys()].sort()).toEqual(['B', 'W']);
    for (const kv of entries.values()) {
      expect(kv.get('location')).toBe('model.onnx.data');
      expect(Number(kv.get('offset')) % 4096).toBe(0);
    }
    expect(entries.get('W')!.get('length')).toBe('48');
    expect(statSync(result.dataPath!).size).toBe(4096 + 16);

    const model = await readModel(path);
    const w = model.graph.initializers.get('W')!;
    expect(w.external).toEqual({ location: 'model.onnx.data', offset: 0, length: 48 });
    expect(w.data()).toEqual(W);
    expect(model.graph.initializers.get('B')!.data()).toEqual(B);

    const y = await runOrt(path);
    expectedY().forEach((v, i) => expect(y[i]).toBeCloseTo(v, 5));
  });

  it('opens the data file only on the first data() call', async () => {
    const path = join(dir, 'model.onnx');
    await writeModel(matMulAddModel(), path, { externalData: 'all', threshold: 1 });
    const model = await readModel(path);
    expect(model.graph.initializers.get('B')!.data()).toEqual(B); // read now, cached
    unlinkSync(join(dir, 'model.onnx.data'));
    expect(model.graph.initializers.get('B')!.data()).toEqual(B);
    expect(() => model.graph.initializers.get('W')!.data()).toThrow(FileAccessError);
    expect(() => model.graph.initializers.get('W')!.data()).toThrow(/initializer 'W'.*model\.onnx\.data/);
  });

  it("'all' respects the threshold, 'inline' writes one self-contained file", async () => {
    const path = join(dir, 'model.onnx');
    const result = await writeModel(matMulAddModel(), path, { externalData: 'all', threshold: 32 });
    expect([...externalEntries(path).keys()]).toEqual(['W']); // B has 16 bytes

    const inlinePath = join(dir, 'inline.onnx');
    const model = await readModel(path);
    const inline = await writeModel(model, inlinePath, { externalData: 'inline' });
    expect(inline.dataPath).toBeUndefined();
    expect(existsSync(join(dir, 'inline.onnx.data'))).toBe(false);
    expect(externalEntries(inlinePath).size).toBe(0);
    expect(result.externalTensors).toBe(1);
    const y = await runOrt(inlinePath);
    expectedY().forEach((v, i) => expect(y[i]).toBeCloseTo(v, 5));
  });

  it("'keep' copies external tensors to the new model's data file, also when overwriting the source in place", async () => {
    const path = join(dir, 'model.onnx');
    await writeModel(matMulAddModel(), path, { externalData: 'all', threshold: 1 });

    const copy = join(dir, 'copy.onnx');
    const model = await readModel(path);
    await writeModel(model, copy); // default 'keep'
    expect([...externalEntries(copy).keys()].sort()).toEqual(['B', 'W']);
    expect((await runOrt(copy))[0]).toBeCloseTo(expectedY()[0], 5);

    // Overwrite in place with a different layout (B inline): W is still unread and must be found at its new place.
    const again = await readModel(path);
    const b = again.graph.initializers.get('B')!;
    const w2: ConstTensor = { ...constTensor('W2', 'float32', [3, 4], W), external: { location: 'x', offset: 0, length: 48 } };
    const w = again.graph.initializers.get('W')!;
    // W2 first, so W moves from offset 0 to 4096; B is now an in-memory tensor without external ref.
    again.graph.initializers = new Map([
      ['W2', w2],
      ['W', w],
      ['B', constTensor('B', 'float32', [4], new Float32Array(b.data() as Float32Array))],
    ]);
    await writeModel(again, path);
    expect(externalEntries(path).get('W')!.get('offset')).toBe('4096');
    expect(again.graph.initializers.get('W')!.data()).toEqual(W);
    const y = await runOrt(path);
    expectedY().forEach((v, i) => expect(y[i]).toBeCloseTo(v, 5));
  });

  it('stores float16 initializers externally as half bits', async () => {
    const half = new Float32Array([1, -2, 0.5, 65504]);
    const model = matMulAddModel();
    model.graph.initializers = new Map([['H', constTensor('H', 'float16', [4], half)]]);
    model.graph.nodes = [node('Cast', ['H'], 'Hf', { to: int(1) }, 'cast'), node('Add', ['X', 'Hf'], 'Y', {}, 'add')];
    model.graph.inputs = [valueInfo('X', [4])];
    model.graph.outputs = [valueInfo('Y', [4])];
    const path = join(dir, 'half.onnx');
    await writeModel(model, path, { externalData: 'all', threshold: 1 });
    expect(externalEntries(path).get('H')!.get('length')).toBe('8');
    expect((await readModel(path)).graph.initializers.get('H')!.data()).toEqual(half);
    const session = await ort.InferenceSession.create(path, { logSeverityLevel: 3 });
    const out = await session.run({ X: new ort.Tensor('float32', new Float32Array(4), [4]) });
    expect(Array.from(out.Y.data as Float32Array)).toEqual(Array.from(half));
  });
});

describe('bad external data', () => {
  /** A model whose initializer W points at `location` with the given offset; writes model and a 64-byte data file. */
  function writeModelWithRef(location: string, offset: number): string {
    const bytes = onnx.ModelProto.encode({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'g',
        node: [{ opType: 'Identity', input: ['W'], output: ['Y'] }],
        output: [{ name: 'Y', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 4 }] } } } }],
        initializer: [
          {
            name: 'W',
            dataType: 1,
            dims: [4],
            dataLocation: 1,
            externalData: [
              { key: 'location', value: location },
              { key: 'offset', value: String(offset) },
              { key: 'length', value: '16' },
            ],
          },
        ],
      },
    }).finish();
    const path = join(dir, 'bad.onnx');
    writeFileSync(path, bytes);
    writeFileSync(join(dir, 'w.data'), new Uint8Array(64));
    return path;
  }

  async function failure(path: string): Promise<Error> {
    const e = await readModel(path).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).message).toContain(path);
    expect((e as Error).message).toContain("'W'");
    return e as Error;
  }

  it("rejects locations with '..' that leave the model folder", async () => {
    const e = await failure(writeModelWithRef('../w.data', 0));
    expect(e).toBeInstanceOf(InvalidModelError);
    expect(e.message).toMatch(/outside the model's folder/);
    expect(await failure(writeModelWithRef('sub/../../w.data', 0))).toBeInstanceOf(InvalidModelError);
    // '..' that stays inside the folder after normalisation is fine.
    const ok = await readModel(writeModelWithRef('sub/../w.data', 0));
    expect(ok.graph.initializers.get('W')!.data()).toEqual(new Float32Array(4));
  });

  it('rejects absolute locations', async () => {
    expect(await failure(writeModelWithRef('/etc/passwd', 0))).toBeInstanceOf(InvalidModelError);
    expect(await failure(writeModelWithRef('C:\\data\\w.data', 0))).toBeInstanceOf(InvalidModelError);
  });

  it('rejects byte ranges beyond the end of the data file', async () => {
    const e = await failure(writeModelWithRef('w.data', 60));
    expect(e).toBeInstanceOf(InvalidModelError);
    expect(e.message).toMatch(/w\.data.*only 64 bytes/);
  });

  it('reports a missing data file as FileAccessError', async () => {
    const e = await failure(writeModelWithRef('missing.data', 0));
    expect(e).toBeInstanceOf(FileAccessError);
    expect(e.message).toMatch(/missing\.data.*does not exist/);
  });

  it('cannot read external data of a model decoded from memory without its path', () => {
    const model = decodeModel(readFileSync(writeModelWithRef('w.data', 0)));
    expect(() => model.graph.initializers.get('W')!.data()).toThrow(/decoded from memory without its path/);
  });
});
