import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildModel, float, ints, node, plainModel, valueInfo } from '../../test/support/model-builder.js';
import { skipNote } from '../../test/support/skip.js';
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

/** y = Scale(x, alpha=3) where Scale is a model-local function whose Constant takes `alpha` by reference. */
function functionModel(): Model {
  return buildModel({
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
        nodes: [node('Constant', [], 'a', { value_float: { type: 'ref', refAttrName: 'alpha', refType: 'float' } }, 'c'), node('Mul', ['x', 'a'], 'y', {}, 'm')],
      },
    ],
    graphName: 'main',
    graphDocString: 'main graph',
    nodes: [
      { name: 'scale', opType: 'Scale', domain: 'pg.test', inputs: ['X'], outputs: ['S'], attributes: { alpha: float(3) }, docString: 'calls Scale' },
      node('Reshape', ['S', 'shape'], 'Y', {}, 'flat'),
    ],
    initializers: [constTensor('shape', 'int64', [1], new BigInt64Array([-1n]))],
    inputs: [valueInfo('X', ['N', 2])],
    outputs: [valueInfo('Y', [null])],
    valueInfo: [valueInfo('S', ['N', 2])],
  });
}

describe('encodeModel / writeModel', () => {
  it('keeps functions (with attribute references), metadata, value_info, opsets and doc strings', () => {
    const model = functionModel();
    const back = decodeModel(encodeModel(model));
    expect(plainModel(back)).toEqual(plainModel(model));

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
    // Slice-9 takes starts/ends as attributes; exporters write INT64_MAX for "to the end" (2 ** 63 as a JS number).
    const model = functionModel();
    model.functions = [];
    model.opsetImports = [{ domain: '', version: 9 }];
    model.graph.initializers = new Map();
    model.graph.valueInfo = new Map();
    model.graph.nodes = [node('Slice', ['X'], 'Y', { starts: ints([1]), ends: ints([2 ** 63]), axes: ints([0]) }, 'slice')];
    model.graph.inputs = [valueInfo('X', [4])];
    model.graph.outputs = [valueInfo('Y', [3])];
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
  const tinyNote = skipNote(existsSync(TINY_CNN), `no fixture ${TINY_CNN}: regenerate with fixtures/make_fixtures.py`);
  it.skipIf(!existsSync(TINY_CNN))(`tiny-cnn fixture: written with external data, onnxruntime gives identical logits${tinyNote}`, async () => {
    const model = await readModel(TINY_CNN);
    expect(model.metadata['pg.dataset']).toBeDefined();
    const path = join(dir, 'tiny-cnn.onnx');
    const result = await writeModel(model, path, { externalData: 'all' });
    expect(result.externalTensors).toBeGreaterThan(0);
    const written = await readModel(path);
    expect(plainModel(written, ['external'])).toEqual(plainModel(model, ['external']));
    expect([...written.graph.initializers.values()].filter((t) => t.external).length).toBe(result.externalTensors);

    const input = new ort.Tensor(
      'float32',
      Float32Array.from({ length: 2 * 28 * 28 }, (_, i) => Math.sin(i)),
      [2, 1, 28, 28],
    );
    const run = async (p: string) => {
      const s = await ort.InferenceSession.create(p, ORT_QUIET);
      return Array.from((await s.run({ [s.inputNames[0]]: input }))[s.outputNames[0]].data as Float32Array);
    };
    expect(await run(path)).toEqual(await run(TINY_CNN));
  });

  it.skipIf(!existsSync(TINY_CNN))(`writes inline weights in chunks (no model-sized buffer): the same model as encodeModel, and onnxruntime runs it${tinyNote}`, async () => {
    const model = await readModel(TINY_CNN);
    const path = join(dir, 'inline.onnx');
    await writeModel(model, path, { externalData: 'inline' });
    const bytes = readFileSync(path);
    // Initializers and the graph are written after the other fields; protobuf readers take any order.
    expect(plainModel(decodeModel(bytes))).toEqual(plainModel(decodeModel(encodeModel(model))));
    expect(bytes.length).toBe(encodeModel(model).length);
    const session = await ort.InferenceSession.create(bytes, ORT_QUIET);
    const input = new ort.Tensor(
      'float32',
      Float32Array.from({ length: 28 * 28 }, (_, i) => Math.cos(i)),
      [1, 1, 28, 28],
    );
    const expected = await (await ort.InferenceSession.create(TINY_CNN, ORT_QUIET)).run({ input });
    expect(Array.from((await session.run({ input })).logits.data as Float32Array)).toEqual(Array.from(expected.logits.data as Float32Array));
  });
});
