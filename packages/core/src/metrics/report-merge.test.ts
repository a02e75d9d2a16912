import { beforeAll, describe, expect, it } from 'vitest';
import { dataSlice, openFashionMnist, shardRange, type Dataset } from '../data/index.js';
import { ShardError } from '../errors/index.js';
import type { Model } from '../graph/index.js';
import { readModel } from '../onnx/index.js';
import { convertModel } from '../gating/convert.js';
import { initBackend } from '../interpreter/index.js';
import { FMNIST_NORM, fixtureModel } from '../../test/fixtures.js';
import { addCounts } from './report-counts.js';
import { mergeReportShards, type ReportShard } from './report-merge.js';
import { measureReport, reportModel, type ReportOptions } from './report.js';

let float: Model;
let gated: Model;
let data: Dataset;
// 300 samples in batches of 64: 5 batches, the last of 44, over 3 shards (1, 2 and 2 batches).
const opts: ReportOptions = { batchSize: 64, limit: 300, decisionMaps: 2, sensitivity: true };

beforeAll(async () => {
  await initBackend('wasm');
  float = await readModel(fixtureModel('tiny-cnn'));
  gated = convertModel(float, { bits: 4, hbits: 2, wbits: 8, actScale: 'dynamic' }).model;
  data = await openFashionMnist('test', { source: 'bundled', ...FMNIST_NORM });
});

async function shardsOf(count: number, model: Model = gated): Promise<ReportShard[]> {
  const shards: ReportShard[] = [];
  for (let index = 1; index <= count; index++) {
    const samples = shardRange(300, opts.batchSize, { index, count });
    const slice = dataSlice(data, samples, `shard ${index}/${count}`);
    const { facts, counts } = await measureReport(model, slice, { ...opts, limit: undefined, baseline: float, decisionMaps: samples.first === 0 ? 2 : 0 });
    // A shard's report names the whole data set (pg report does the same), its samples are in `samples`.
    facts.data = data.name;
    shards.push({ path: `part-${index}.json`, shard: { index, count }, identity: { model: 'tiny' }, samples, facts, counts });
  }
  return shards;
}

describe('a sharded report', () => {
  it('cuts the evaluated samples into whole batches, as evenly as they go', () => {
    expect([1, 2, 3].map((index) => shardRange(300, 64, { index, count: 3 }))).toEqual([
      { first: 0, end: 64 },
      { first: 64, end: 192 },
      { first: 192, end: 300 },
    ]);
    expect(() => shardRange(100, 64, { index: 1, count: 3 })).toThrow(/only 2 batch\(es\) to share/);
    expect(() => shardRange(100, 64, { index: 4, count: 3 })).toThrow(/K must be from 1 to N/);
  });

  it("keeps the conversion mode and each layer's gate mode (facts), and refuses shards of models in different modes", async () => {
    const seer = convertModel(float, { bits: 4, hbits: 2, wbits: 8, actScale: 'dynamic', mode: 'seernet' }).model;
    const whole = await reportModel(seer, data, { ...opts, baseline: float });
    const shards = await shardsOf(2, seer);
    const merged = mergeReportShards(shards, { allowPartial: false });
    expect(merged.report).toEqual(whole);
    expect(merged.report.mode).toBe('seernet');
    expect(merged.report.layers.filter((l) => l.gated).map((l) => l.gate_mode)).toEqual(['seernet', 'seernet']);
    const pgShard = (await shardsOf(2))[1];
    expect(() => mergeReportShards([shards[0], pgShard], { allowPartial: false })).toThrow(ShardError);
  });

  it('merges into the unsharded report exactly: accuracy, baseline, sparsity, per-layer fractions, decision maps, sensitivity', async () => {
    const whole = await reportModel(gated, data, { ...opts, baseline: float });
    const shards = await shardsOf(3);
    // Given in any order.
    const merged = mergeReportShards([shards[2], shards[0], shards[1]], { allowPartial: false });
    expect(merged.missing).toEqual([]);
    expect(merged.report).toEqual(whole);
    expect(JSON.stringify(merged.report)).toBe(JSON.stringify(whole));
    // The shards differ from each other and from the whole: the merge is not a copy of one of them.
    expect(new Set(shards.map((s) => s.counts.correct)).size).toBeGreaterThan(1);
    expect(addCounts(shards.map((s) => s.counts)).updated.filter((u) => u !== null).length).toBe(2);
  });

  it('refuses shards of different runs, a shard twice, a missing shard (unless partial) and counts that do not fit', async () => {
    const shards = await shardsOf(2);
    const merge = (s: ReportShard[], allowPartial = false) => mergeReportShards(s, { allowPartial });
    expect(() => merge([shards[0], { ...shards[1], identity: { model: 'other' } }])).toThrow(
      /part-1\.json and part-2\.json were computed from different inputs \(model "tiny" vs "other"\)/,
    );
    expect(() => merge([shards[0], shards[0]])).toThrow(/shard 1\/2 is given twice: part-1\.json and part-1\.json/);
    expect(() => merge([shards[1]])).toThrow(ShardError);
    expect(() => merge([shards[1]])).toThrow(/shard 1 of 2 missing/);
    const partial = merge([shards[1]], true);
    expect(partial.missing).toEqual([1]);
    expect(partial.report.samples).toBe(shards[1].counts.samples);
    expect(partial.report.decision_maps).toBeUndefined();
    expect(() => merge([shards[0], { ...shards[1], counts: { ...shards[1].counts, samples: 3 } }])).toThrow(/part-2\.json: shard 2\/2 counts 3 sample\(s\) for positions 128-299/);
    const { layers, ...facts } = shards[1].facts;
    expect(() => merge([shards[0], { ...shards[1], facts: { ...facts, layers: layers.slice(1) } }])).toThrow(/describe different layers/);
  });
});
