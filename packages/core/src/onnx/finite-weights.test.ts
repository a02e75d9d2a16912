import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, node, valueInfo } from '../../test/support/model-builder.js';
import { InvalidModelError } from '../errors/pg-error.js';
import type { Model } from '../graph/ir.js';
import { constTensor } from '../graph/tensor.js';
import { checkFiniteWeights } from './finite-weights.js';
import { decodeModel, encodeModel, readModel, writeModel } from './index.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pg-finite-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function model(w: Float32Array, dtype: 'float32' | 'float16' | 'int32' = 'float32'): Model {
  const data = dtype === 'int32' ? Int32Array.from(w, (v) => (Number.isFinite(v) ? v : 0)) : w;
  return buildModel({
    nodes: [node('Add', ['x', 'w'], 'y', {}, 'add')],
    initializers: [constTensor('w', dtype, [w.length], data)],
    inputs: [valueInfo('x', [w.length])],
    outputs: [valueInfo('y', [w.length])],
  });
}

describe('checkFiniteWeights', () => {
  it('passes finite weights and integer tensors', () => {
    expect(() => checkFiniteWeights(model(Float32Array.from([1, -2, 3e38])))).not.toThrow();
    expect(() => checkFiniteWeights(model(Float32Array.from([1, NaN]), 'int32'))).not.toThrow();
  });

  it.each([
    [NaN, 'NaN'],
    [Infinity, 'Infinity'],
    [-Infinity, '-Infinity'],
  ])('names the initializer and index of %s, inline, float16 and external', async (bad, text) => {
    const w = Float32Array.from([0.5, 1, bad, 2]);
    for (const [label, m] of [
      ['inline', decodeModel(encodeModel(model(w)), 'inline.onnx')],
      ['float16', decodeModel(encodeModel(model(w, 'float16')), 'half.onnx')],
    ] as const) {
      const e = (() => {
        try {
          checkFiniteWeights(m);
        } catch (err) {
          return err;
        }
      })();
      expect(e, label).toBeInstanceOf(InvalidModelError);
      expect((e as Error).message, label).toMatch(new RegExp(`initializer 'w' holds ${text.replace('-', '\\-')} at index 2 \\(of 4 values\\)`));
    }
    const path = join(dir, `external-${text}.onnx`);
    await writeModel(model(w), path, { externalData: 'all', threshold: 1 });
    const external = await readModel(path);
    expect(external.graph.initializers.get('w')!.external).toBeDefined();
    expect(() => checkFiniteWeights(external)).toThrow(/external-.*\.onnx: initializer 'w' holds/);
  });
});
