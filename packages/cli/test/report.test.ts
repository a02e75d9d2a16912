import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeNpy } from '@pg/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_TEST, FIXTURES, json, pg, tempDir } from './support/pg.js';
import { schemaErrors } from './support/schemas.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  tmp = await tempDir();
});
afterAll(async () => {
  await tmp.remove();
});

describe('pg report on the tiny CNN', () => {
  it('measures a float model: no gated layers, no B_avg, labelled as such', async () => {
    const run = await pg(['report', FIXTURES.tiny, '--data', BUNDLED_TEST, '--limit', '200', '--json']);
    expect(run.code, run.stdout).toBe(0);
    const doc = json(run);
    expect(schemaErrors('envelope', doc)).toEqual([]);
    expect(schemaErrors('report', doc.result)).toEqual([]);
    expect(doc.result).toMatchObject({ samples: 200, bavg: null, act_scale: 'none (float model)' });
  });

  it('warns that an uncalibrated static model gives meaningless figures', async () => {
    const gated = join(tmp.dir, 'uncalibrated.onnx');
    expect((await pg(['convert', FIXTURES.tiny, '-o', gated])).code).toBe(0);
    const run = await pg(['report', gated, '--data', BUNDLED_TEST, '--limit', '100', '--json']);
    expect(run.code, run.stdout).toBe(0);
    const doc = json(run) as { result: unknown; warnings: string[] };
    expect(schemaErrors('report', doc.result)).toEqual([]);
    expect(doc.result).toMatchObject({ act_scale: 'static-uncalibrated' });
    expect(doc.warnings).toEqual([expect.stringMatching(/never calibrated/)]);
    const human = await pg(['report', gated, '--data', BUNDLED_TEST, '--limit', '100']);
    expect(human.stderr).toMatch(/^Warning: .*never calibrated/m);
  });

  it('checks that the data fits the model before running it', async () => {
    // The tiny CNN takes 1×28×28; samples of 3×8×8 must be refused with both shapes named.
    const x = join(tmp.dir, 'wrong-shape-x.npy');
    const y = join(tmp.dir, 'wrong-shape-y.npy');
    await writeFile(x, encodeNpy({ dtype: 'float32', shape: [2, 3, 8, 8], data: new Float32Array(2 * 3 * 8 * 8) }));
    await writeFile(y, encodeNpy({ dtype: 'int64', shape: [2], data: new BigInt64Array([1n, 2n]) }));
    const run = await pg(['report', FIXTURES.tiny, '--data', x, '--labels', y]);
    expect(run.code).toBe(5);
    expect(run.stderr).toMatch(/^Error \[PG_INVALID_DATA\]: .*\[3, 8, 8\].*\[1, 28, 28\]/m);
  });
});
