import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COST_MODELS, selectProfiles } from './registry.js';
import { readProfile } from './profile.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-profile-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function profileFile(name: string, content: unknown): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

const fusion = { brick_bits: 2, array_rows: 32, array_cols: 16, bricks_per_pe: 16, utilization: 0.8, update_utilization: 0.5, float_bits: 16, other_ops_per_cycle: 64 };

describe('device profile validation', () => {
  const cases: [string, unknown, RegExp][] = [
    ['not JSON', '{"model": ', /not valid JSON/],
    ['an array', [], /must be a JSON object, got an array/],
    ['unknown model', { model: 'tpu', parameters: {} }, /field "model" must name a cost model, got "tpu"/],
    ['unknown top-level field', { model: 'gpu', parameters: {}, extra: 1 }, /unknown field "extra"/],
    ['missing parameter', { model: 'bit-fusion', parameters: { ...fusion, utilization: undefined } }, /missing parameter "parameters\.utilization"/],
    ['unknown parameter (a typo)', { model: 'bit-serial', parameters: { float_bits: 16, flaot_bits: 32 } }, /unknown parameter "parameters\.flaot_bits" for the bit-serial model/],
    ['utilisation above 1', { model: 'bit-fusion', parameters: { ...fusion, utilization: 1.5 } }, /parameters\.utilization must be a number in \(0, 1\], got 1\.5/],
    ['a non-integer width', { model: 'bit-serial', parameters: { float_bits: 16.5 } }, /parameters\.float_bits must be an integer from 1 to 64, got 16\.5/],
    [
      'a string for a number',
      { model: 'cpu-int8', parameters: { int8_macs_per_cycle: '64', float_macs_per_cycle: 16 } },
      /parameters\.int8_macs_per_cycle must be a positive number, got "64"/,
    ],
    [
      'a throughput table keyed by a name',
      { model: 'gpu', parameters: { macs_per_cycle: { int8: 5 }, sparse_efficiency: 0.2, float_bits: 16 } },
      /parameters\.macs_per_cycle has key "int8", which is no bit width/,
    ],
    [
      'a negative throughput',
      { model: 'gpu', parameters: { macs_per_cycle: { '8': -5 }, sparse_efficiency: 0.2, float_bits: 16 } },
      /parameters\.macs_per_cycle\["8"\] must be a positive number, got -5/,
    ],
  ];
  for (const [what, content, message] of cases) {
    it(`refuses ${what}, naming the file and the field`, async () => {
      const file = await profileFile(`${what.replace(/\W+/g, '-')}.json`, content);
      const err = await readProfile(file, COST_MODELS).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'PG_USAGE', exitCode: 2 });
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message.startsWith(file)).toBe(true);
    });
  }

  it('a missing file is a file-access error', async () => {
    await expect(readProfile(join(dir, 'nope.json'), COST_MODELS)).rejects.toMatchObject({ code: 'PG_FILE_ACCESS' });
  });

  it("a user's profile replaces the bundled one for its model and selects that model by itself", async () => {
    const file = await profileFile('mine.json', { model: 'bit-fusion', description: 'mine', parameters: { ...fusion, array_rows: 64 } });
    const ps = await selectProfiles(undefined, [file]);
    expect(ps).toHaveLength(1);
    expect(ps[0]).toMatchObject({ model: 'bit-fusion', source: file, parameters: { array_rows: 64 } });
    const all = await selectProfiles('all', [file]);
    expect(all.find((p) => p.model === 'bit-fusion')?.source).toBe(file);
    expect(all.find((p) => p.model === 'gpu')?.source).toBe('bundled:gpu');
    await expect(selectProfiles('all', [file, file])).rejects.toMatchObject({ message: expect.stringMatching(/both profiles of the bit-fusion model/) });
  });
});
