import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeNpy } from '@pg/core/internal';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_TEST, ROOT, json, pg, tempDir } from './support/pg.js';
import { schemaErrors } from './support/schemas.js';

// The recurrent fixtures (fixtures/make_recurrent.py) through the real binary: an LSTM classifier that reads
// Fashion-MNIST row by row, and a character-level LSTM language model whose report gives perplexity.

const ROW_LSTM = join(ROOT, 'fixtures/models/row-lstm-fmnist.onnx');
const CHAR_LM = join(ROOT, 'fixtures/models/char-lm-kjv.onnx');
const KJV_SUBSET = join(ROOT, 'fixtures/data/kjv-chars/test-subset.npz');
const expected = (name: string) => JSON.parse(readFileSync(join(ROOT, `fixtures/models/${name}.expected.json`), 'utf8')) as Record<string, number>;

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  tmp = await tempDir();
});
afterAll(async () => {
  await tmp.remove();
});

describe('an LSTM classifier reading images row by row', () => {
  it("reads fashion-mnist as 28 steps of 28 pixels and scores PyTorch's accuracy on the bundled test images", async () => {
    const run = await pg(['report', ROW_LSTM, '--data', BUNDLED_TEST, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const doc = json(run) as { result: { accuracy: number; samples: number; data: string; layers: { op: string; macs: number; outputs: number }[] } };
    expect(schemaErrors('report', doc.result)).toEqual([]);
    expect(doc.result.data).toMatch(/read row by row/);
    expect(doc.result.samples).toBe(1000);
    expect(doc.result.accuracy).toBeCloseTo(expected('row-lstm-fmnist').float_test_accuracy_first1000, 3);
    // The LSTM is priced as a layer: 28 steps x 64 units, each 4·(28 + 64) MACs.
    expect(doc.result.layers.find((l) => l.op === 'LSTM')).toMatchObject({ outputs: 28 * 64, macs: 28 * 64 * 4 * (28 + 64) });
  });
});

describe('a character-level language model', () => {
  it("gives perplexity per character, PyTorch's on the same windows, and compares it with --baseline", async () => {
    const run = await pg(['report', CHAR_LM, '--data', KJV_SUBSET, '--baseline', CHAR_LM, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const doc = json(run) as { result: Record<string, unknown> };
    expect(schemaErrors('report', doc.result)).toEqual([]);
    expect(doc.result).toMatchObject({ samples: 64, perplexity_unit: 'char', perplexity_increase: 0 });
    const want = expected('char-lm-kjv').float_test_subset_perplexity;
    expect(Math.abs((doc.result.perplexity as number) / want - 1)).toBeLessThan(1e-4);
    const human = await pg(['report', CHAR_LM, '--data', KJV_SUBSET]);
    expect(human.stdout).toMatch(/perplexity per char\s+\d+\.\d{4}/);
  });

  it('gates CI on the perplexity increase against the baseline (and refuses the gate without one)', async () => {
    const held = await pg(['report', CHAR_LM, '--data', KJV_SUBSET, '--baseline', CHAR_LM, '--fail-if', 'perplexity_increase>1%']);
    expect(held.code, held.stderr).toBe(0);
    const noBaseline = await pg(['report', CHAR_LM, '--data', KJV_SUBSET, '--fail-if', 'perplexity_increase>1%']);
    expect(noBaseline.code).toBe(2);
    expect(noBaseline.stderr).toMatch(/needs --baseline/);
  });

  it('refuses token ids beyond the vocabulary and sequences of the wrong shape, naming the data', async () => {
    const vocabulary = expected('char-lm-kjv').vocabulary as unknown as string;
    const ids = Int32Array.from({ length: 2 * 8 }, (_, i) => i % 5);
    ids[11] = vocabulary.length;
    const bad = join(tmp.dir, 'bad-ids.npy');
    const next = join(tmp.dir, 'bad-ids-next.npy');
    await writeFile(bad, encodeNpy({ dtype: 'int32', shape: [2, 8], data: ids }));
    await writeFile(next, encodeNpy({ dtype: 'int32', shape: [2, 8], data: new Int32Array(16) }));
    const run = await pg(['report', CHAR_LM, '--data', bad, '--labels', next]);
    expect(run.code).toBe(5);
    expect(run.stderr).toMatch(
      new RegExp(
        `^Error \\[PG_INVALID_DATA\\]: .*bad-ids\\.npy.* has token id ${vocabulary.length} at sample 1, step 3, but the model's vocabulary has ${vocabulary.length} tokens`,
        'm',
      ),
    );
    // Float sequences of 20 steps of 28 for a model that reads 28 rows of 28.
    const x = join(tmp.dir, 'short.npy');
    const y = join(tmp.dir, 'short-y.npy');
    await writeFile(x, encodeNpy({ dtype: 'float32', shape: [2, 20, 28], data: new Float32Array(2 * 20 * 28) }));
    await writeFile(y, encodeNpy({ dtype: 'int64', shape: [2], data: new BigInt64Array([1n, 2n]) }));
    const short = await pg(['report', ROW_LSTM, '--data', x, '--labels', y]);
    expect(short.code).toBe(5);
    expect(short.stderr).toMatch(/^Error \[PG_INVALID_DATA\]: .*\[20, 28\].*\[N, 28, 28\]/m);
  });
});
