import { beforeAll, describe, expect, it } from 'vitest';
import { convertModel } from '../gating/convert.js';
import { pgLayers } from '../gating/index.js';
import { initBackend } from '../interpreter/index.js';
import { readModel } from '../onnx/index.js';
import { datasetFromArrays } from '../data/index.js';
import { fixtureModel } from '../../test/fixtures.js';
import { evaluate } from './evaluate.js';
import { layerSensitivity, withThreshold } from './sensitivity.js';

beforeAll(async () => {
  await initBackend('wasm');
});

// 24 random 28×28 samples with random labels: the figures only need to be consistent, not good.
function randomData() {
  let s = 7;
  const rnd = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const x = Float32Array.from({ length: 24 * 28 * 28 }, () => rnd() * 2 - 0.5);
  const y = BigInt64Array.from({ length: 24 }, () => BigInt(Math.floor(rnd() * 10)));
  return datasetFromArrays({ dtype: 'float32', shape: [24, 1, 28, 28], data: x }, { dtype: 'int64', shape: [24], data: y }, { x: 'x', y: 'y', name: 'random' });
}

describe('per-layer sensitivity', () => {
  it('Δ = -∞ opens every gate of that layer and Δ = +∞ closes them, leaving the thresholds of the other layers as they were', async () => {
    const { model } = convertModel(await readModel(fixtureModel('tiny-cnn')), { bits: 4, hbits: 2, wbits: 8, actScale: 'dynamic' });
    const gated = pgLayers(model).filter((l) => l.gated);
    expect(gated.length).toBeGreaterThan(0);
    const data = randomData();
    const target = gated[0];
    const base = await evaluate(model, data, 8);
    const fraction = (ev: Awaited<ReturnType<typeof evaluate>>, name: string) => {
      const node = [...ev.outputs.keys()].find((n) => n.name === name)!;
      return ev.updated.get(node)! / (ev.outputs.get(node)! * ev.samples);
    };
    const on = await evaluate(withThreshold(model, target.threshold!, -Infinity), data, 8);
    const off = await evaluate(withThreshold(model, target.threshold!, Infinity), data, 8);
    expect(fraction(on, target.node.name)).toBe(1);
    expect(fraction(off, target.node.name)).toBe(0);
    // Only that layer's thresholds change (downstream layers' decisions change through their inputs, not their Δ).
    const copy = withThreshold(model, target.threshold!, -Infinity);
    for (const other of gated.slice(1)) expect(copy.graph.initializers.get(other.threshold!)).toBe(model.graph.initializers.get(other.threshold!));
    // The original model is untouched (thresholds shared, not overwritten).
    expect(fraction(await evaluate(model, data, 8), target.node.name)).toBe(fraction(base, target.node.name));

    const sens = await layerSensitivity(model, data, { batchSize: 8, limit: 24 });
    expect(sens.map((s) => s.layer)).toEqual(gated.map((l) => l.node.name));
    expect(sens[0]).toEqual({ layer: target.node.name, accuracy_full_precision: on.correct / 24, accuracy_prediction_only: off.correct / 24 });
  });
});
