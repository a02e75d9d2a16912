import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Model } from '../graph/ir.js';
import { constTensor } from '../graph/tensor.js';
import { decodeModel, encodeModel, readModel, writeModel } from './index.js';
import type { onnx as P } from 'onnx-proto';
import { onnx } from './proto.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pg-write-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const ORT_QUIET = { logSeverityLevel: 3 } as const;

/** The model as plain data (tensor contents read, Maps as entry lists); `omit` drops keys such as 'external'. */
function plain(x: unknown, omit: readonly string[] = []): unknown {
  if (x instanceof Map) return [...x].map(([k, v]) => [k, plain(v, omit)]);
  if (Array.isArray(x)) return x.map((v) => plain(v, omit));
  if (ArrayBuffer.isView(x)) return x;
  if (x !== null && typeof x === 'object') {
    return Object.fromEntries(
      Object.entries(x)
        .filter(([k]) => k !== 'sourcePath' && !omit.includes(k))
        .map(([k, v]) => [k, typeof v === 'function' ? plain((v as () => unknown)(), omit) : plain(v, omit)]),
    );
  }
  return x;
}

/** y = Scale(x, alpha=3) where Scale is a model-local function whose Constant takes `alpha` by reference. */
function functionModel(): Model {
  return {
    irVersion: 8,
    opsetImports: [
      { domain: '', version: 17 },
      { domain: 'pg.test', version: 1 },
    ],
    producerName: 'pg',
    producerVersion: '0.1.0',
    domain: 'org.pg',
    modelVersion: 7,
    docString: 'a model with a function',
    metadata: { 'pg.preprocess.mean': '0.286', empty: '' },
    functions: [
      {
        name: 'Scale',
        domain: 'pg.test',
        inputs: ['x'],
        outputs: ['y'],
        attributes: ['alpha'],
        opsetImports: [{ domain: '', version: 17 }],
        docString: 'x * alpha',
        nodes: [
          { name: 'c', opType: 'Constant', domain: '', inputs: [], outputs: ['a'], attributes: { value_float: { type: 'ref', refAttrName: 'alpha', refType: 'float' } } },
          { name: 'm', opType: 'Mul', domain: '', inputs: ['x', 'a'], outputs: ['y'], attributes: {} },
        ],
      },
    ],
    graph: {
      name: 'main',
      docString: 'main graph',
      nodes: [
        { name: 'scale', opType: 'Scale', domain: 'pg.test', inputs: ['X'], outputs: ['S'], attributes: { alpha: { type: 'float', value: 3 } }, docString: 'calls Scale' },
        {
          name: 'flat',
          opType: 'Reshape',
          domain: '',
          inputs: ['S', 'shape'],
          outputs: ['Y'],
          attributes: {},
        },
      ],
      initializers: new Map([['shape', constTensor('shape', 'int64', [1], new BigInt64Array([-1n]))]]),
      inputs: [{ name: 'X', dtype: 'float32', shape: ['N', 2] }],
      outputs: [{ name: 'Y', dtype: 'float32', shape: [null] }],
      valueInfo: new Map([['S', { name: 'S', dtype: 'float32', shape: ['N', 2] }]]),
    },
  };
}

describe('encodeModel / writeModel', () => {
  it('keeps functions (with attribute references), metadata, value_info, opsets and doc strings', () => {
    const model = functionModel();
    const back = decodeModel(encodeModel(model));
    expect(plain(back)).toEqual(plain(model));

    // protobufjs decodes into class instances whose repeated fields are always arrays.
    const proto = onnx.ModelProto.decode(encodeModel(model));
    const fn = proto.functions[0] as P.FunctionProto;
    const ref = (fn.node[0] as P.NodeProto).attribute[0];
    expect(ref.refAttrName).toBe('alpha');
    expect(ref.type).toBe(onnx.AttributeProto.AttributeType.FLOAT);
    expect(fn.attribute).toEqual(['alpha']);
    expect(proto.metadataProps.map((e) => [e.key, e.value])).toEqual([
      ['pg.preprocess.mean', '0.286'],
      ['empty', ''],
    ]);
  });

  it('onnxruntime runs the written function model', async () => {
    const path = join(dir, 'fn.onnx');
    const result = await writeModel(functionModel(), path);
    expect(result.dataPath).toBeUndefined();
    const session = await ort.InferenceSession.create(path, ORT_QUIET);
    const out = await session.run({ X: new ort.Tensor('float32', new Float32Array([1, 2, 3, 4]), [2, 2]) });
    expect(Array.from(out.Y.data as Float32Array)).toEqual([3, 6, 9, 12]);
  });

  it('writes INT64_MAX attribute sentinels saturated, not wrapped to INT64_MIN', async () => {
    // Slice-9 takes starts/ends as attributes; exporters write INT64_MAX for "to the end".
    const model = functionModel();
    model.functions = [];
    model.opsetImports = [{ domain: '', version: 9 }];
    model.graph.initializers = new Map();
    model.graph.valueInfo = new Map();
    model.graph.nodes = [
      {
        name: 'slice',
        opType: 'Slice',
        domain: '',
        inputs: ['X'],
        outputs: ['Y'],
        attributes: { starts: { type: 'ints', value: [1] }, ends: { type: 'ints', value: [9223372036854775807] }, axes: { type: 'ints', value: [0] } },
      },
    ];
    model.graph.inputs = [{ name: 'X', dtype: 'float32', shape: [4] }];
    model.graph.outputs = [{ name: 'Y', dtype: 'float32', shape: [3] }];
    const bytes = encodeModel(model);
    const slice = (onnx.ModelProto.decode(bytes).graph as P.GraphProto).node[0] as P.NodeProto;
    const ends = (slice.attribute.find((a) => a.name === 'ends') as P.AttributeProto).ints[0];
    expect(String(ends)).toBe('9223372036854775807');
    expect(decodeModel(bytes).graph.nodes[0].attributes.ends).toEqual({ type: 'ints', value: [2 ** 63] });
    const session = await ort.InferenceSession.create(bytes, ORT_QUIET);
    const out = await session.run({ X: new ort.Tensor('float32', new Float32Array([1, 2, 3, 4]), [4]) });
    expect(Array.from(out.Y.data as Float32Array)).toEqual([2, 3, 4]);
  });

  const TINY_CNN = join(import.meta.dirname, '../../../../fixtures/models/tiny-cnn.onnx');
  it.skipIf(!existsSync(TINY_CNN))('tiny-cnn fixture: written with external data, onnxruntime gives identical logits', async () => {
    const model = await readModel(TINY_CNN);
    expect(model.metadata['pg.dataset']).toBeDefined();
    const path = join(dir, 'tiny-cnn.onnx');
    const result = await writeModel(model, path, { externalData: 'all' });
    expect(result.externalTensors).toBeGreaterThan(0);
    const written = await readModel(path);
    expect(plain(written, ['external'])).toEqual(plain(model, ['external']));
    expect([...written.graph.initializers.values()].filter((t) => t.external).length).toBe(result.externalTensors);

    const input = new ort.Tensor('float32', Float32Array.from({ length: 2 * 28 * 28 }, (_, i) => Math.sin(i)), [2, 1, 28, 28]);
    const run = async (p: string) => {
      const s = await ort.InferenceSession.create(p, ORT_QUIET);
      return Array.from((await s.run({ [s.inputNames[0]]: input }))[s.outputNames[0]].data as Float32Array);
    };
    expect(await run(path)).toEqual(await run(TINY_CNN));
  });

  it.skipIf(!existsSync(TINY_CNN))('writes inline weights in chunks (no model-sized buffer): the same model as encodeModel, and onnxruntime runs it', async () => {
    const model = await readModel(TINY_CNN);
    const path = join(dir, 'inline.onnx');
    await writeModel(model, path, { externalData: 'inline' });
    const bytes = readFileSync(path);
    // Initializers and the graph are written after the other fields; protobuf readers take any order.
    expect(plain(decodeModel(bytes))).toEqual(plain(decodeModel(encodeModel(model))));
    expect(bytes.length).toBe(encodeModel(model).length);
    const session = await ort.InferenceSession.create(bytes, ORT_QUIET);
    const input = new ort.Tensor('float32', Float32Array.from({ length: 28 * 28 }, (_, i) => Math.cos(i)), [1, 1, 28, 28]);
    const expected = await (await ort.InferenceSession.create(TINY_CNN, ORT_QUIET)).run({ input });
    expect(Array.from((await session.run({ input })).logits.data as Float32Array)).toEqual(Array.from(expected.logits.data as Float32Array));
  });
});
