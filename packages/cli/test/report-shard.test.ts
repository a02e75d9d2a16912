import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatReport, type ReportJson } from '../src/report-format.js';
import { BUNDLED_TEST, BUNDLED_TRAIN, FIXTURES, json, pg, tempDir } from './support/pg.js';
import { schemaErrors } from './support/schemas.js';
import { parseShardFlag, resolveShard } from '../src/shard-flags.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let gated: string;
/** One evaluation's flags: a baseline, a compared model, per-layer sensitivity and decision maps, so every count is merged. */
let evaluation: string[];
const parts = (n: number) => Array.from({ length: n }, (_, i) => join(tmp.dir, `part-${i + 1}.json`));

beforeAll(async () => {
  tmp = await tempDir();
  gated = join(tmp.dir, 'gated.onnx');
  const conv = await pg(['convert', FIXTURES.tiny, '-o', gated, '--data', BUNDLED_TRAIN, '--calibration-batches', '1']);
  expect(conv.code, conv.stderr).toBe(0);
  evaluation = [
    gated,
    '--data',
    BUNDLED_TEST,
    '--limit',
    '500',
    '--batch-size',
    '64',
    '--baseline',
    FIXTURES.tiny,
    '--compare',
    FIXTURES.tiny,
    '--per-layer-sensitivity',
    '--decision-maps',
    '2',
  ];
  // The shards run at once, as the pods of an Indexed Job do; the third takes its index from the environment.
  const runs = await Promise.all([
    pg(['report', ...evaluation, '--shard', '1/3', '--json']),
    pg(['report', ...evaluation, '--shard', '2/3', '--json']),
    pg(['report', ...evaluation, '--shard', 'auto/3', '--json'], { env: { JOB_COMPLETION_INDEX: '2' } }),
  ]);
  for (const [i, r] of runs.entries()) {
    expect(r.code, r.stdout).toBe(0);
    await writeFile(parts(3)[i], r.stdout);
  }
}, 240_000);
afterAll(async () => {
  await tmp.remove();
});

describe('pg report --shard and pg report merge', () => {
  it('merges three shards into exactly the unsharded report, in every format', async () => {
    const shard = json(await pg(['report', ...evaluation, '--shard', '2/3', '--json'])).result as ReportJson;
    expect(schemaErrors('report', shard)).toEqual([]);
    // Whole batches of 64 over 500 samples: 8 batches, 2 + 3 + 3.
    expect(shard.shard).toMatchObject({ index: 2, count: 3, samples: { first: 128, end: 320 } });
    expect(shard.samples).toBe(192);
    const whole = await pg(['report', ...evaluation, '--json']);
    expect(whole.code, whole.stdout).toBe(0);
    const merged = await pg(['report', 'merge', ...parts(3), '--json']);
    expect(merged.code, merged.stdout).toBe(0);
    expect(schemaErrors('report', json(merged).result)).toEqual([]);
    expect(JSON.stringify(json(merged).result)).toBe(JSON.stringify(json(whole).result));
    // The other formats render the merged result as they render the unsharded one.
    const wholeResult = json(whole).result as ReportJson;
    for (const format of ['text', 'md', 'html'] as const) {
      const many = await pg(['report', 'merge', ...parts(3).reverse(), '--format', format]);
      expect(many.code, many.stderr).toBe(0);
      expect(many.stdout, format).toBe(formatReport(wholeResult, format));
    }
  }, 240_000);

  it('refuses a missing shard unless --allow-partial, which the report states; a shard twice; shards of another model; a truncated file', async () => {
    const [p1, p2, p3] = parts(3);
    const missing = await pg(['report', 'merge', p1, p3]);
    expect(missing.code).toBe(8);
    expect(missing.stderr).toMatch(/^Error \[PG_SHARDS\]: shard 2 of 3 missing/m);
    const partial = await pg(['report', 'merge', p1, p3, '--allow-partial', '--json']);
    expect(partial.code, partial.stdout).toBe(0);
    const r = json(partial).result as ReportJson;
    expect(r.partial).toEqual({ shards: 3, missing_shards: [2] });
    expect(r.samples).toBe(500 - 192);
    const text = await pg(['report', 'merge', p1, p3, '--allow-partial']);
    expect(text.stdout).toMatch(/^PARTIAL\s+shard 2 of 3 missing/m);

    const twice = await pg(['report', 'merge', p1, p2, p2, p3]);
    expect(twice.code).toBe(8);
    expect(twice.stderr).toContain(`shard 2/3 is given twice: ${p2} and ${p2}`);

    // A shard of another model: its identity records another SHA-256.
    const other = join(tmp.dir, 'other-2.json');
    const doc = JSON.parse(await readFile(p2, 'utf8')) as { result: ReportJson };
    doc.result.shard!.identity.model = { sha256: '0'.repeat(64) };
    await writeFile(other, JSON.stringify(doc));
    const mixed = await pg(['report', 'merge', p1, other, p3]);
    expect(mixed.code).toBe(8);
    expect(mixed.stderr).toMatch(new RegExp(`${p1} and ${other} were computed from different inputs \\(model`));

    const cut = join(tmp.dir, 'cut-2.json');
    const text2 = await readFile(p2, 'utf8');
    await writeFile(cut, text2.slice(0, text2.length / 2));
    const truncated = await pg(['report', 'merge', p1, cut, p3]);
    expect(truncated.code).toBe(8);
    expect(truncated.stderr).toContain(`${cut} is not a complete shard file`);
    expect(truncated.stdout).toBe('');
  });

  it('refuses bad --shard values and an index missing from the environment with usage errors, before any work', async () => {
    const bad = await pg(['report', gated, '--data', BUNDLED_TEST, '--json', '--shard', '4/3']);
    expect(bad.code).toBe(2);
    expect((json(bad) as { message: string }).message).toMatch(/shard 4\/3 does not exist: K must be from 1 to N/);
    const unset = await pg(['report', gated, '--data', BUNDLED_TEST, '--shard', 'auto/3'], { env: { JOB_COMPLETION_INDEX: undefined, CI_NODE_INDEX: undefined } });
    expect(unset.code).toBe(2);
    expect(unset.stderr).toMatch(/none of JOB_COMPLETION_INDEX, CI_NODE_INDEX is set/);
    const text = await pg(['report', gated, '--data', BUNDLED_TEST, '--shard', '1/2']);
    expect(text.code).toBe(2);
    expect(text.stderr).toMatch(/--shard writes a part of a report for 'pg report merge': it needs --json/);
  });

  it('reads K/N, or with auto K from JOB_COMPLETION_INDEX + 1 or CI_NODE_INDEX and N from auto/N or CI_NODE_TOTAL', () => {
    expect(parseShardFlag('2/4')).toEqual({ index: 2, count: 4 });
    expect(parseShardFlag('auto')).toEqual({ auto: true });
    expect(parseShardFlag('auto/4')).toEqual({ auto: true, count: 4 });
    expect(resolveShard({ auto: true, count: 4 }, { JOB_COMPLETION_INDEX: '0' })).toEqual({ index: 1, count: 4 });
    expect(resolveShard({ auto: true }, { CI_NODE_INDEX: '3', CI_NODE_TOTAL: '3' })).toEqual({ index: 3, count: 3 });
    const refused: Array<[() => unknown, RegExp]> = [
      [() => parseShardFlag('3'), /expected K\/N/],
      [() => parseShardFlag('1/2/3'), /expected K\/N/],
      [() => parseShardFlag('0/3'), /shard 0\/3 does not exist/],
      [() => parseShardFlag('auto/0'), /N must be at least 1/],
      [() => resolveShard({ auto: true, count: 3 }, { JOB_COMPLETION_INDEX: 'two' }), /JOB_COMPLETION_INDEX is 'two', not a shard index/],
      [() => resolveShard({ auto: true, count: 3 }, { JOB_COMPLETION_INDEX: '3' }), /JOB_COMPLETION_INDEX=3 is no shard of 3/],
      [() => resolveShard({ auto: true }, { JOB_COMPLETION_INDEX: '0' }), /the number of shards is unknown/],
      [() => resolveShard({ auto: true }, { CI_NODE_INDEX: '1', CI_NODE_TOTAL: 'x' }), /CI_NODE_TOTAL is 'x'/],
    ];
    for (const [f, message] of refused) expect(f).toThrow(message);
  });
});
