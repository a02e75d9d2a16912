import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertModel, initBackend, maxRelativeDifference, PG_DOMAIN, readModel, runEngine, type HostTensor, type Model } from '@pg/core/internal';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportFormat } from '../src/index.js';
import { fixtureModel, runPg } from './support/gated-fixtures.js';
import { RECURRENT_FIXTURE_DATA, trainedRecurrent } from './support/recurrent-fixtures.js';

// `pg export --format onnx` (the pg ops inlined: standard ONNX, a Scan per LSTM/GRU direction) and `--format onnx-pg`
// of gated and static LSTMs and GRUs on the recurrent fixtures, in ONNX Runtime against pg's interpreter. (The
// function form's every option and gate decision: core's recurrent-ort.test.ts; hw-json: hw-json-recurrent.test.ts.)

const dir = mkdtempSync(join(tmpdir(), 'pg-export-lstm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(async () => {
  await initBackend('wasm');
});

/** The fixture's recurrent op: what it converts to, gated and static. */
const kindOf = (name: string) => (name.includes('gru') ? 'GRU' : 'LSTM');

async function ort(path: string, input: string, x: HostTensor, outputs: string[]): Promise<Record<string, HostTensor>> {
  const session = await runEngine('onnxruntime').load(await readModel(path));
  try {
    return await session.run({ [input]: x }, outputs);
  } finally {
    await session.dispose();
  }
}

for (const name of Object.keys(RECURRENT_FIXTURE_DATA)) {
  const kind = kindOf(name);
  describe(`${name}: exports of the ${kind}`, () => {
    for (const mode of ['pg', 'static'] as const) {
      it(`${mode === 'pg' ? `PG${kind}` : `Q${kind} (--mode static)`}: --format onnx is standard ONNX (a Scan per direction) that ONNX Runtime runs to pg's outputs; --format onnx-pg too`, async () => {
        const { model, x, batch } = await trainedRecurrent(name, mode);
        const op = mode === 'pg' ? `PG${kind}` : `Q${kind}`;
        expect(model.graph.nodes.some((n) => n.opType === op)).toBe(true);
        const ours = runPg(model, batch).outputs;
        const output = model.graph.outputs[0].name;
        const input = model.graph.inputs[0].name;

        const std = await exportFormat('onnx').export(model, { output: join(dir, `${name}-${mode}.onnx`) });
        const exported = await readModel(std.files[0].path);
        expect(exported.graph.nodes.filter((n) => n.domain !== '' && n.domain !== 'ai.onnx')).toEqual([]);
        expect(exported.opsetImports.map((o) => o.domain)).not.toContain(PG_DOMAIN);
        expect(exported.functions).toEqual([]);
        expect(exported.graph.nodes.filter((n) => n.opType === 'Scan').length).toBe(1);
        const standard = (await ort(std.files[0].path, input, x, [output]))[output].data as Float32Array;
        const pgForm = await exportFormat('onnx-pg').export(model, { output: join(dir, `${name}-${mode}-pg.onnx`) });
        const withFunctions = (await ort(pgForm.files[0].path, input, x, [output]))[output].data as Float32Array;
        const std2pg = maxRelativeDifference(standard, ours[output].data);
        console.log(`${name} ${op}: --format onnx in ONNX Runtime against pg: max relative difference ${std2pg.toExponential(2)}`);
        // The two ONNX forms are the same ops: ONNX Runtime computes them to the same bits.
        expect(Array.from(withFunctions)).toEqual(Array.from(standard));
        // 8-bit static h codes can sit on a rounding boundary where the runtimes' last bits differ (core's
        // recurrent-ort.test.ts shows it on char-lm-kjv's QLSTM: 1.1e-4); the gated form agrees to 1e-4.
        expect(std2pg).toBeLessThan(mode === 'pg' ? 1e-4 : 1e-3);
      }, 300_000);
    }
  });
}

describe('the bidirectional two-layer LSTM and GRU', () => {
  it.each(['lstm', 'gru'])('%s: exports as standard ONNX with two Scans per layer that ONNX Runtime runs to pg’s outputs', async (kind) => {
    const float = await readModel(fixtureModel(`recurrent/${kind}-2layer-bidirectional`));
    const { model } = convertModel(float, { bits: 4, hbits: 2, wbits: 8, actScale: 'static' });
    expect(model.graph.nodes.filter((n) => n.opType === `PG${kind.toUpperCase()}`).length).toBe(2);
    const std = await exportFormat('onnx').export(model, { output: join(dir, `bi-${kind}.onnx`) });
    const exported = await readModel(std.files[0].path);
    expect(exported.graph.nodes.filter((n) => n.opType === 'Scan').length).toBe(4);
    const feeds: Record<string, HostTensor> = Object.fromEntries(
      model.graph.inputs.map((i, k) => {
        const shape = i.shape as number[];
        return [i.name, { dtype: 'float32', shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, j) => Math.sin(j * 0.37 + k)) }];
      }),
    );
    const names = model.graph.outputs.map((o) => o.name);
    const pg = await runEngine('wasm').load(model);
    const session = await runEngine('onnxruntime').load(exported);
    try {
      const ours = await pg.run(feeds, names);
      const theirs = await session.run(feeds, names);
      for (const o of names) expect(maxRelativeDifference(theirs[o].data as Float32Array, ours[o].data as Float32Array), o).toBeLessThan(1e-4);
    } finally {
      await session.dispose();
      await pg.dispose();
    }
  });
});

describe('below opset 13', () => {
  it('onnx-pg refuses a gated LSTM naming the layer and the opset (no function body there); onnx writes it at 13', async () => {
    const { model } = convertModel(await readModel(fixtureModel('recurrent/lstm-1layer')), { bits: 4, hbits: 2, wbits: 8, actScale: 'static' });
    // The LSTM alone (the fixture's Squeeze after it changed meaning at 13), its outputs the graph's.
    const lstm = model.graph.nodes.find((n) => n.opType === 'PGLSTM')!;
    const graph = { ...model.graph, nodes: [lstm], outputs: lstm.outputs.map((name) => ({ name, dtype: 'float32' as const })) };
    const old: Model = { ...model, graph, opsetImports: model.opsetImports.map((o) => (o.domain === '' ? { ...o, version: 12 } : o)) };
    const out = join(dir, 'opset12-pg.onnx');
    const run = exportFormat('onnx-pg').export(old, { output: out });
    await expect(run).rejects.toThrow(/layer '\/rnn\/LSTM' \(PGLSTM\) cannot be exported as onnx-pg at ONNX opset 12/);
    expect(existsSync(out)).toBe(false);
    const std = await exportFormat('onnx').export(old, { output: join(dir, 'opset12.onnx') });
    const exported = await readModel(std.files[0].path);
    expect(exported.opsetImports.find((o) => o.domain === '')!.version).toBe(13);
    expect(exported.graph.nodes.some((n) => n.opType === 'Scan')).toBe(true);
  });
});
