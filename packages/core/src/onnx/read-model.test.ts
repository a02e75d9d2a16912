import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plainModel } from '../../test/support/model-builder.js';
import { skipNote } from '../../test/support/skip.js';
import { FileAccessError, InvalidDataError, InvalidModelError, UnsupportedModelError } from '../errors/pg-error.js';
import type { Model } from '../graph/ir.js';
import type { ConstTensor } from '../graph/tensor.js';
import { narrowToFloat16 } from './float16.js';
import { decodeModel, encodeModel, readModel, readTensorFile } from './index.js';
import type { onnx as P } from 'onnx-proto';
import { onnx } from './proto.js';

const DATA = '/usr/share/libonnx-testdata/data';
const dataNote = skipNote(existsSync(DATA), `no ${DATA}: apt-get install libonnx-testdata`);
const ORT_QUIET = { logSeverityLevel: 3 } as const; // old-opset warnings would flood the test output

function toOrt(t: ConstTensor): ort.Tensor {
  const data = t.data();
  if (t.dtype === 'float16') return new ort.Tensor('float16', narrowToFloat16(data as Float32Array), t.dims);
  return new ort.Tensor(t.dtype, data as Float32Array, t.dims);
}

function expectClose(actual: ort.Tensor, expected: ConstTensor, name: string): void {
  expect(actual.dims, name).toEqual(expected.dims);
  const a = Array.from(actual.data as ArrayLike<number | bigint | string>);
  const e = Array.from(expected.data() as ArrayLike<number | bigint | string>);
  expect(a.length, name).toBe(e.length);
  a.forEach((v, i) => {
    if (typeof v === 'number' && typeof e[i] === 'number') expect(v, `${name}[${i}]`).toBeCloseTo(e[i] as number, 4);
    else expect(v, `${name}[${i}]`).toEqual(e[i]);
  });
}

describe.skipIf(!existsSync(DATA))(`ONNX conformance models (libonnx-testdata)${dataNote}`, () => {
  // Each case: folder, and whether onnxruntime 1.30 can run it here (it has no int64 Add for opset 6,
  // and StringNormalizer needs an en_US.UTF-8 locale that minimal systems lack).
  const cases: [string, boolean][] = [
    ['pytorch-converted/test_Conv2d', true], // conv, IR 3: weights also listed as graph inputs
    ['pytorch-converted/test_ConvTranspose2d', true],
    ['pytorch-converted/test_Embedding', true], // int64 input
    ['pytorch-operator/test_operator_non_float_params', false], // int64 initializers
    ['node/test_gemm_default_matrix_bias', true],
    ['node/test_cast_FLOAT16_to_FLOAT', true], // float16 input tensor file
    ['node/test_if', true], // subgraphs
    ['node/test_loop11', true], // subgraph with its own inputs, outputs and scalar tensors
    ['node/test_constant', true], // tensor attribute, no inputs
    ['simple/test_strnorm_model_monday_casesensintive_lower', false], // string tensors and string list attribute
  ];

  it.each(cases)('%s: decode -> encode -> decode is lossless (and onnxruntime computes output_0: %s)', async (name, runnable) => {
    const dir = join(DATA, name);
    const model = await readModel(join(dir, 'model.onnx'));
    const bytes = encodeModel(model);
    const again = decodeModel(bytes, join(dir, 'model.onnx'));
    expect(plainModel(again)).toEqual(plainModel(model));
    if (!runnable) return;

    const session = await ort.InferenceSession.create(bytes, ORT_QUIET);
    const setDir = join(dir, 'test_data_set_0');
    const feeds: Record<string, ort.Tensor> = {};
    for (const [i, input] of session.inputNames.entries()) feeds[input] = toOrt(await readTensorFile(join(setDir, `input_${i}.pb`)));
    const results = await session.run(feeds);
    for (const [i, output] of session.outputNames.entries()) {
      expectClose(results[output], await readTensorFile(join(setDir, `output_${i}.pb`)), `${name} ${output}`);
    }
  });

  it('keeps int64 initializers exact', async () => {
    const model = await readModel(join(DATA, 'pytorch-operator/test_operator_non_float_params/model.onnx'));
    const int64 = [...model.graph.initializers.values()].filter((t) => t.dtype === 'int64');
    expect(int64.length).toBeGreaterThan(0);
    for (const t of int64) expect(t.data()).toBeInstanceOf(BigInt64Array);
  });

  it('drops initializers from the inputs of IR 3 models and keeps them for writing', async () => {
    const path = join(DATA, 'pytorch-converted/test_Conv2d/model.onnx');
    const model = await readModel(path);
    expect(model.irVersion).toBe(3);
    // protobufjs decodes into class instances whose repeated fields are always arrays.
    const raw = onnx.ModelProto.decode(readFileSync(path)).graph as P.GraphProto;
    expect(raw.input.length).toBeGreaterThan(model.graph.inputs.length);
    for (const i of model.graph.inputs) expect(model.graph.initializers.has(i.name)).toBe(false);
    // Written again as IR 3, the initializers are listed as inputs once more (required before IR 4).
    const rewritten = onnx.ModelProto.decode(encodeModel(model)).graph as P.GraphProto;
    expect(rewritten.input.map((v) => v.name).sort()).toEqual(raw.input.map((v) => v.name).sort());
  });

  it('reads input shapes: fixed sizes, symbolic names and unknown dims', async () => {
    const model = await readModel(join(DATA, 'node/test_gemm_default_matrix_bias/model.onnx'));
    expect(model.graph.inputs.map((v) => [v.name, v.dtype, v.shape])).toEqual([
      ['a', 'float32', [3, 6]],
      ['b', 'float32', [6, 4]],
      ['c', 'float32', [3, 4]],
    ]);
    const symbolic = decodeModel(
      onnx.ModelProto.encode({
        irVersion: 8,
        opsetImport: [{ domain: '', version: 13 }],
        graph: {
          name: 'g',
          input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: 3 }, {}] } } } }],
          output: [{ name: 'x', type: { tensorType: { elemType: 1 } } }],
        },
      }).finish(),
    );
    expect(symbolic.graph.inputs[0].shape).toEqual(['N', 3, null]);
    expect(symbolic.graph.outputs[0].shape).toBeUndefined();
  });

  it('readTensorFile reads float16 (widened), int64 and float tensor files', async () => {
    const half = await readTensorFile(join(DATA, 'node/test_cast_FLOAT16_to_FLOAT/test_data_set_0/input_0.pb'));
    const asFloat = await readTensorFile(join(DATA, 'node/test_cast_FLOAT16_to_FLOAT/test_data_set_0/output_0.pb'));
    expect(half.dtype).toBe('float16');
    expect(half.data()).toBeInstanceOf(Float32Array);
    expect(half.data()).toEqual(asFloat.data());
    const ids = await readTensorFile(join(DATA, 'pytorch-converted/test_Embedding/test_data_set_0/input_0.pb'));
    expect(ids.dtype).toBe('int64');
    expect(ids.data()).toBeInstanceOf(BigInt64Array);

    const modelPath = join(DATA, 'pytorch-converted/test_Conv2d/model.onnx');
    await expect(readTensorFile(modelPath)).rejects.toThrow(InvalidDataError);
    await expect(readTensorFile(modelPath)).rejects.toThrow(/test_Conv2d\/model\.onnx: the file is an ONNX model, not a tensor file/);
    await expect(readTensorFile(join(DATA, 'no-such.pb'))).rejects.toThrow(FileAccessError);
  });
});

describe('bad model files', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pg-read-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, bytes: Uint8Array | string): string => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };
  const tinyModel = (irVersion?: number): Uint8Array =>
    onnx.ModelProto.encode({
      ...(irVersion === undefined ? {} : { irVersion }),
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: 'g',
        node: [{ opType: 'Relu', input: ['x'], output: ['y'], name: 'relu' }],
        input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 4 }] } } } }],
        output: [{ name: 'y', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 4 }] } } } }],
        initializer: [{ name: 'w', dataType: 1, dims: [4], rawData: new Uint8Array(16) }],
      },
    }).finish();

  async function failure(path: string): Promise<Error> {
    const e = await readModel(path).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).message).toContain(path);
    return e as Error;
  }

  it('missing file: FileAccessError', async () => {
    expect(await failure(join(dir, 'nope.onnx'))).toBeInstanceOf(FileAccessError);
  });

  it('empty file', async () => {
    const e = await failure(write('empty.onnx', ''));
    expect(e).toBeInstanceOf(InvalidModelError);
    expect(e.message).toMatch(/empty/);
  });

  it('random bytes', async () => {
    let seed = 42;
    const random = Uint8Array.from({ length: 4096 }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff);
    const e = await failure(write('random.onnx', random));
    expect(e).toBeInstanceOf(InvalidModelError);
    expect(e.message).toMatch(/not an ONNX model/);
  });

  it.skipIf(!existsSync(DATA))(`truncated model${dataNote}`, async () => {
    const full = readFileSync(join(DATA, 'pytorch-converted/test_Conv2d/model.onnx'));
    const e = await failure(write('truncated.onnx', full.subarray(0, Math.floor(full.length / 2))));
    expect(e).toBeInstanceOf(InvalidModelError);
    expect((e as InvalidModelError).action).toBeTruthy();
  });

  it('a tensor file passed as a model', async () => {
    const tensor = onnx.TensorProto.encode({ name: 'input', dataType: 1, dims: [2, 3], floatData: [1, 2, 3, 4, 5, 6] }).finish();
    const e = await failure(write('input_0.pb', tensor));
    expect(e).toBeInstanceOf(InvalidModelError);
    expect(e.message).toMatch(/TensorProto/);
  });

  it('a protobuf without a graph', async () => {
    const e = await failure(write('nograph.onnx', onnx.ModelProto.encode({ irVersion: 8, producerName: 'x' }).finish()));
    expect(e).toBeInstanceOf(InvalidModelError);
    expect(e.message).toMatch(/no graph/);
  });

  it('missing or too new ir_version', async () => {
    expect(await failure(write('noir.onnx', tinyModel()))).toBeInstanceOf(InvalidModelError);
    const e = await failure(write('ir11.onnx', tinyModel(11)));
    expect(e).toBeInstanceOf(UnsupportedModelError);
    expect(e.message).toMatch(/IR version 11/);
    expect(decodeModel(tinyModel(10)).irVersion).toBe(10);
  });

  it('duplicate node outputs and initializer names name the culprit', async () => {
    const graphOf = (m: P.ModelProto) => m.graph as P.GraphProto;
    const dupOut = onnx.ModelProto.decode(tinyModel(8));
    graphOf(dupOut).node.push(onnx.NodeProto.create({ opType: 'Neg', input: ['x'], output: ['y'], name: 'neg' }));
    const e1 = await failure(write('dupout.onnx', onnx.ModelProto.encode(dupOut).finish()));
    expect(e1).toBeInstanceOf(InvalidModelError);
    expect(e1.message).toMatch(/node 'neg' \(Neg\) writes output 'y', which is already produced by node 'relu'/);

    const dupInit = onnx.ModelProto.decode(tinyModel(8));
    graphOf(dupInit).initializer.push(onnx.TensorProto.create({ name: 'w', dataType: 1, dims: [1], floatData: [1] }));
    const e2 = await failure(write('dupinit.onnx', onnx.ModelProto.encode(dupInit).finish()));
    expect(e2).toBeInstanceOf(InvalidModelError);
    expect(e2.message).toMatch(/initializer name 'w' is used twice/);
  });

  it('unsupported element types are UnsupportedModelError naming the tensor', async () => {
    const m = onnx.ModelProto.decode(tinyModel(8));
    const w = (m.graph as P.GraphProto).initializer[0];
    w.dataType = 16; // BFLOAT16
    w.rawData = new Uint8Array(8);
    const e = await failure(write('bf16.onnx', onnx.ModelProto.encode(m).finish()));
    expect(e).toBeInstanceOf(UnsupportedModelError);
    expect(e.message).toMatch(/initializer 'w' has element type BFLOAT16/);
  });

  it('an opset newer than pg knows is UnsupportedModelError', async () => {
    const m = onnx.ModelProto.decode(tinyModel(8));
    m.opsetImport = [onnx.OperatorSetIdProto.create({ domain: '', version: 23 })];
    const e = await failure(write('opset23.onnx', onnx.ModelProto.encode(m).finish()));
    expect(e).toBeInstanceOf(UnsupportedModelError);
    expect(e.message).toMatch(/imports ONNX opset 23, newer than the newest pg knows \(22\)/);
    expect((e as UnsupportedModelError).action).toMatch(/opset_version 22 or lower/);
  });

  it('cycles, dangling inputs, missing initializers and unproduced outputs are InvalidModelError naming the node or value', async () => {
    const variant = (name: string, edit: (g: P.GraphProto) => void): string => {
      const m = onnx.ModelProto.decode(tinyModel(8));
      edit(m.graph as P.GraphProto);
      return write(name, onnx.ModelProto.encode(m).finish());
    };
    const cases: [string, (g: P.GraphProto) => void, RegExp][] = [
      [
        'cycle.onnx',
        (g) => {
          g.node[0].input = ['x', 'z'];
          g.node.push(onnx.NodeProto.create({ opType: 'Neg', input: ['y'], output: ['z'], name: 'neg' }));
        },
        /the graph has a cycle through node '(relu|neg)'/,
      ],
      [
        'dangling.onnx',
        (g) => {
          g.node[0].input = ['nowhere'];
        },
        /node 'relu' \(Relu\) reads 'nowhere', which no node, input or initializer provides/,
      ],
      [
        'missing-init.onnx',
        (g) => {
          g.node[0].opType = 'Add';
          g.node[0].input = ['x', 'bias'];
        },
        /node 'relu' \(Add\) reads 'bias', which no node, input or initializer provides/,
      ],
      [
        'no-output.onnx',
        (g) => {
          g.output[0].name = 'ghost';
        },
        /graph output 'ghost' is not produced by any node, input or initializer/,
      ],
    ];
    for (const [name, edit, message] of cases) {
      const e = await failure(variant(name, edit));
      expect(e, name).toBeInstanceOf(InvalidModelError);
      expect(e.message, name).toMatch(message);
      expect((e as InvalidModelError).action, name).toBeTruthy();
    }
  });

  it('lists the inputs of a valid model', async () => {
    const model: Model = await readModel(write('ok.onnx', tinyModel(8)));
    expect(model.graph.inputs).toEqual([{ name: 'x', dtype: 'float32', shape: [4] }]);
    expect(readdirSync(dir)).toContain('ok.onnx');
  });
});
