import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readModel, writeModel } from '../src/onnx/index.js';
import { convertModel } from '../src/gating/index.js';
import { fixtureModel } from './fixtures.js';

/**
 * Big models keep their weights in an external data file (ONNX's way past protobuf's 2 GiB). pg must
 * load such a model, convert it, and save it with the weights again in an external file, equal to the
 * originals, while the new pg parameters (thresholds, scales: a few bytes each) stay inline.
 */
describe('a model with external data: load, convert, save, reload', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pg-external-convert-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps every external tensor external and bit-identical, and the pg parameters inline', async () => {
    const source = join(dir, 'model.onnx');
    await writeModel(await readModel(fixtureModel('tiny-cnn')), source, { externalData: 'all', threshold: 64 });
    const original = await readModel(source);
    const external = [...original.graph.initializers.values()].filter((t) => t.external !== undefined);
    expect(external.length).toBeGreaterThan(4); // the conv and fc weights at least

    const { model: converted, layers } = convertModel(original, { bits: 4, hbits: 2, wbits: 8, actScale: 'static' });
    expect(layers.some((l) => l.gated)).toBe(true);
    const out = join(dir, 'gated.onnx');
    const written = await writeModel(converted, out);
    expect(written.dataPath).toBe(`${out}.data`);
    expect(written.externalTensors).toBe(external.length);
    expect(readdirSync(dir).sort()).toEqual(['gated.onnx', 'gated.onnx.data', 'model.onnx', 'model.onnx.data']);
    // The weights went to the data file: the model file is far smaller than the data it refers to.
    expect(statSync(out).size).toBeLessThan(statSync(`${out}.data`).size);

    const reloaded = await readModel(out);
    expect([...reloaded.graph.initializers.keys()].sort()).toEqual([...converted.graph.initializers.keys()].sort());
    for (const t of converted.graph.initializers.values()) {
      const again = reloaded.graph.initializers.get(t.name)!;
      expect(again.dims, t.name).toEqual(t.dims);
      expect(again.dtype, t.name).toBe(t.dtype);
      expect(again.external !== undefined, `${t.name} stored externally`).toBe(t.external !== undefined);
      expect(again.data(), t.name).toEqual(t.data());
    }
    for (const t of external) expect(reloaded.graph.initializers.get(t.name)!.data(), t.name).toEqual(t.data());
    expect(reloaded.graph.nodes.map((n) => `${n.domain}.${n.opType}:${n.name}`)).toEqual(converted.graph.nodes.map((n) => `${n.domain}.${n.opType}:${n.name}`));
  });
});
