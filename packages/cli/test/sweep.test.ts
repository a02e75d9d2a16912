import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SweepResult } from '@pg/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_TEST, BUNDLED_TRAIN, FIXTURES, json, pg, tempDir } from './support/pg.js';
import { schemaErrors } from './support/schemas.js';
import { expectWholeModelFromLayers } from './support/whole-model.js';
import type { ReportJson } from '../src/report-format.js';

describe('pg sweep on the tiny CNN', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let dir: string;
  // Two grid points (4/2 at 0.8 and 0.9 target sparsity; 3/3 is invalid and left out), 2 steps each.
  const sweep = (...extra: string[]) =>
    pg([
      'sweep',
      FIXTURES.tiny,
      '--data',
      BUNDLED_TRAIN,
      '--eval-data',
      BUNDLED_TEST,
      '--eval-limit',
      '100',
      '--bits',
      '4',
      '--hbits',
      '2,4',
      '--target-sparsity',
      '0.8,0.9',
      '--max-steps',
      '2',
      '--batch-size',
      '64',
      '--calibration-batches',
      '1',
      '--out-dir',
      dir,
      '--json',
      ...extra,
    ]);
  const readSummary = async (): Promise<SweepResult> => JSON.parse(await readFile(join(dir, 'sweep.json'), 'utf8')) as SweepResult;

  beforeAll(async () => {
    tmp = await tempDir();
    dir = join(tmp.dir, 'sweep');
  });
  afterAll(async () => {
    await tmp.remove();
  });

  it('runs every valid point, writes each model and report, and sweep.json with the frontier', async () => {
    const run = await sweep('--html', join(tmp.dir, 'sweep.html'));
    expect(run.code, run.stderr).toBe(0);
    const doc = json(run);
    expect(schemaErrors('envelope', doc)).toEqual([]);
    expect(schemaErrors('sweep', doc.result)).toEqual([]);
    const summary = await readSummary();
    expect(schemaErrors('sweep', summary)).toEqual([]);
    expect(summary.points.map((p) => [p.id, p.status, p.reused])).toEqual([
      ['b4-h2-s0.8', 'complete', false],
      ['b4-h2-s0.9', 'complete', false],
    ]);
    expect(summary.invalid).toEqual([{ bits: 4, hbits: 4 }]);
    expect(summary).toMatchObject({ complete: 2, pending: 0, stopped: null });
    // pg convert's default: the first layer at 8 bits in every point.
    expect(summary.settings.first_layer_bits).toBe(8);
    for (const p of summary.points) {
      expect(existsSync(join(dir, p.model!))).toBe(true);
      const stored = JSON.parse(await readFile(join(dir, p.report!), 'utf8')) as { config: unknown; report: ReportJson };
      expect(schemaErrors('report', stored.report)).toEqual([]);
      expect(stored.config).toEqual({ mode: 'pg', bits: 4, hbits: 2, target_sparsity: p.target_sparsity });
      expect(p.accuracy_drop).toBeCloseTo(summary.float_accuracy! - p.accuracy!, 12);
      expect(p.accuracy).toBe(stored.report.accuracy);
      expect(p.bavg).toBe(stored.report.bavg);
      // Every point is priced on the whole model by default (no --cost), and its figures agree with its layers.
      expect(p.whole_model).toEqual(stored.report.whole_model);
      expectWholeModelFromLayers(stored.report);
    }
    // The frontiers: the complete points no other point beats on both accuracy and cost, on the whole model's
    // activation bits (the default axis) and on the gated layers' B_avg.
    const [a, b] = summary.points;
    const front = (cost: (p: typeof a) => number) => {
      const dominated = (x: typeof a, y: typeof a) => cost(y) <= cost(x) && y.accuracy! >= x.accuracy! && (cost(y) < cost(x) || y.accuracy! > x.accuracy!);
      return [a, b]
        .filter((x) => ![a, b].some((y) => y !== x && dominated(x, y)))
        .sort((x, y) => cost(x) - cost(y))
        .map((x) => x.id);
    };
    expect(summary.frontier.act_bits).toEqual(front((p) => p.whole_model!.act_bits!));
    expect(summary.frontier.bavg).toEqual(front((p) => p.bavg!));
    const html = await readFile(join(tmp.dir, 'sweep.html'), 'utf8');
    // Both points on the whole-model chart (first) and on the gated layers' B_avg chart.
    const charts = html.split('<svg').slice(1);
    expect(charts.map((c) => /data-chart="([^"]+)"/.exec(c)?.[1])).toEqual(['accuracy-vs-act-bits', 'accuracy-vs-bavg']);
    for (const c of charts) expect(c.match(/<circle class="point/g)).toHaveLength(2);
  });

  it('refuses a folder that holds a sweep without --resume', async () => {
    const run = await sweep();
    expect(run.code).toBe(2);
    expect(json(run)).toMatchObject({ code: 'PG_USAGE', action: expect.stringMatching(/--resume/) });
  });

  it('resumes: keeps complete points, stops at the time budget with the rest pending, then finishes', async () => {
    const before = await readSummary();
    // Forget the second point: --resume must run it again, and only it.
    await rm(join(dir, before.points[1].report!));

    const stopped = await sweep('--resume', '--time-budget', '0s');
    expect(stopped.code, stopped.stderr).toBe(0);
    const s1 = json(stopped).result as SweepResult;
    expect(schemaErrors('sweep', s1)).toEqual([]);
    expect(s1.points.map((p) => [p.status, p.reused])).toEqual([
      ['complete', true],
      ['pending', false],
    ]);
    expect(s1).toMatchObject({ complete: 1, pending: 1, stopped: 'time-budget' });
    expect(s1.points[0].accuracy).toBe(before.points[0].accuracy);

    // --cost on resume: the kept point is priced from its stored report, the new one as it is measured.
    const resumed = await sweep('--resume', '--cost', 'bit-serial');
    expect(resumed.code, resumed.stderr).toBe(0);
    const s2 = json(resumed).result as SweepResult;
    expect(schemaErrors('sweep', s2)).toEqual([]);
    expect(s2.points.map((p) => [p.status, p.reused])).toEqual([
      ['complete', true],
      ['complete', false],
    ]);
    expect(s2.points.map((p) => p.costs.map((c) => c.backend))).toEqual([['bit-serial'], ['bit-serial']]);
    expect(s2.points.every((p) => p.costs[0].total > 0)).toBe(true);
    expect(Object.keys(s2.frontier)).toEqual(['act_bits', 'bavg', 'bit-serial']);
    // The kept point is priced again from its stored report: the same whole-model figures, and bit-serial agrees with them.
    expect(s2.points[0].whole_model).toEqual(before.points[0].whole_model);
    for (const p of s2.points) expect(p.costs[0].total).toBe(p.whole_model!.bitops);
    expect(s2).toMatchObject({ complete: 2, pending: 0, stopped: null });
    // Same seed, same settings: the re-run point reproduces its first result.
    expect(s2.points[1].accuracy).toBe(before.points[1].accuracy);
    expect(await readSummary()).toEqual(Object.fromEntries(Object.entries(s2).filter(([k]) => k !== 'out_dir' && k !== 'html')));
  });

  it('refuses --resume with other settings, the whole fine-tuning recipe included', async () => {
    const run = await sweep('--resume', '--seed', '7');
    expect(run.code).toBe(2);
    expect(json(run)).toMatchObject({ code: 'PG_USAGE', message: expect.stringMatching(/seed 0 → 7/) });
    const recipe = await sweep('--resume', '--penalty', '0.01', '--no-final-calibration', '--no-train-weights');
    expect(recipe.code).toBe(2);
    expect(json(recipe)).toMatchObject({
      code: 'PG_USAGE',
      message: expect.stringMatching(/train_weights true → false, .*final_calibration true → false, .*penalty 0\.001 → 0\.01/),
    });
  });

  it('resumes a sweep.json that does not record every recipe setting as one swept with their defaults', async () => {
    const summary = await readSummary();
    const { penalty, ...older } = summary.settings;
    expect(penalty).toBe(0.001);
    await writeFile(join(dir, 'sweep.json'), JSON.stringify({ ...summary, settings: older }));
    const other = await sweep('--resume', '--time-budget', '0s', '--penalty', '0.01');
    expect(other.code).toBe(2);
    expect(json(other)).toMatchObject({ message: expect.stringMatching(/penalty 0\.001 → 0\.01/) });
    const run = await sweep('--resume', '--time-budget', '0s');
    expect(run.code, run.stderr).toBe(0);
    expect((await readSummary()).settings).toEqual(summary.settings);
  });

  it('resumes a sweep written before first_layer_bits was a setting as one with the first layer float', async () => {
    const summary = await readSummary();
    const { first_layer_bits: _dropped, ...older } = summary.settings;
    await writeFile(join(dir, 'sweep.json'), JSON.stringify({ ...summary, settings: older }));
    const refused = await sweep('--resume');
    expect(refused.code).toBe(2);
    expect(json(refused)).toMatchObject({ code: 'PG_USAGE', message: expect.stringMatching(/first_layer_bits null → 8/) });
    const resumed = await sweep('--resume', '--first-layer-bits', 'float');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect((json(resumed).result as SweepResult).points.map((p) => p.reused)).toEqual([true, true]);
  });

  it('resumes a sweep written before final_calibration was a setting as one without it (then the default)', async () => {
    const summary = await readSummary();
    const { final_calibration: _dropped, ...older } = summary.settings;
    await writeFile(join(dir, 'sweep.json'), JSON.stringify({ ...summary, settings: older }));
    const refused = await sweep('--resume', '--first-layer-bits', 'float');
    expect(refused.code).toBe(2);
    expect(json(refused)).toMatchObject({ code: 'PG_USAGE', message: expect.stringMatching(/final_calibration false → true/) });
    const resumed = await sweep('--resume', '--first-layer-bits', 'float', '--no-final-calibration');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect((json(resumed).result as SweepResult).points.map((p) => p.reused)).toEqual([true, true]);
  });

  it('Ctrl-C stops the point being trained: exit 130, sweep.json written with it pending', async () => {
    const other = join(tmp.dir, 'interrupted');
    let sent = false;
    const run = await pg(
      [
        'sweep',
        FIXTURES.tiny,
        '--data',
        BUNDLED_TRAIN,
        '--eval-data',
        BUNDLED_TEST,
        '--eval-limit',
        '100',
        '--target-sparsity',
        '0.8',
        '--max-steps',
        '100000',
        '--batch-size',
        '16',
        '--calibration-batches',
        '1',
        '--out-dir',
        other,
      ],
      {
        onStderr: (text, child) => {
          if (!sent && text.includes('converting, fine-tuning')) {
            sent = true;
            child.kill('SIGINT');
          }
        },
      },
    );
    expect(run.code, run.stderr).toBe(130);
    expect(run.stderr).toMatch(/^Error \[PG_INTERRUPTED\]: Interrupted by SIGINT: 0 of 1 point\(s\) complete/m);
    const summary = JSON.parse(await readFile(join(other, 'sweep.json'), 'utf8')) as SweepResult;
    expect(schemaErrors('sweep', summary)).toEqual([]);
    expect(summary).toMatchObject({ complete: 0, pending: 1, stopped: 'interrupted' });
    expect(existsSync(join(other, 'points', 'b4-h2-s0.8', 'report.json'))).toBe(false);
  });
});

describe('pg sweep --shard: a shard killed halfway', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    tmp = await tempDir();
  });
  afterAll(async () => {
    await tmp.remove();
  });

  it('SIGKILL during its second point: merge refuses the shard, --resume runs only that point, then merge succeeds', async () => {
    const out = join(tmp.dir, 'shard');
    const shard = (...extra: string[]) =>
      pg(
        [
          'sweep',
          FIXTURES.tiny,
          '--data',
          BUNDLED_TRAIN,
          '--eval-data',
          BUNDLED_TEST,
          '--eval-limit',
          '100',
          '--target-sparsity',
          '0.8,0.9',
          '--max-steps',
          '3',
          '--batch-size',
          '64',
          '--calibration-batches',
          '1',
          '--out-dir',
          out,
          '--shard',
          '1/1',
          ...extra,
        ],
        {
          onStderr: (text, child) => {
            // The second point's start: the first is complete and recorded; no handler, no flush runs on SIGKILL.
            if (extra.length === 0 && (text.match(/converting, fine-tuning/g) ?? []).length === 2) child.kill('SIGKILL');
          },
        },
      );
    const killed = await shard();
    expect(killed.signal ?? killed.code).toBe('SIGKILL');
    const file = join(out, 'sweep.shard-1-of-1.json');
    const refused = await pg(['sweep', 'merge', out, '-o', join(tmp.dir, 'merged')]);
    expect(refused.code, refused.stderr).toBe(8);
    expect(refused.stderr).toContain(`${file}: shard 1/1 has 1 point(s) pending`);
    expect(existsSync(join(tmp.dir, 'merged', 'sweep.json'))).toBe(false);

    const resumed = await shard('--resume', '--json');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect((json(resumed).result as SweepResult).points.map((p) => [p.status, p.reused])).toEqual([
      ['complete', true],
      ['complete', false],
    ]);
    const merged = await pg(['sweep', 'merge', out, '-o', join(tmp.dir, 'merged'), '--json']);
    expect(merged.code, merged.stderr).toBe(0);
    expect(json(merged).result).toMatchObject({ complete: 2, pending: 0 });
  });

  it('an out-dir under a file: exit 6 naming the path, nothing written', async () => {
    await writeFile(join(tmp.dir, 'a-file'), 'x');
    const run = await pg([
      'sweep',
      FIXTURES.tiny,
      '--data',
      BUNDLED_TRAIN,
      '--target-sparsity',
      '0.8',
      '--max-steps',
      '1',
      '--out-dir',
      join(tmp.dir, 'a-file', 'out'),
      '--shard',
      '1/1',
    ]);
    expect(run.code).toBe(6);
    expect(run.stderr).toMatch(/^Error \[PG_FILE_ACCESS\]: Cannot write '.*a-file\/out\/points': a part of the path is a file, not a folder/m);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('pg sweep --mode: PG against its baselines in one grid', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    tmp = await tempDir();
  });
  afterAll(async () => {
    await tmp.remove();
  });
  const sweep = (dir: string, ...extra: string[]) =>
    pg([
      'sweep',
      FIXTURES.tiny,
      '--data',
      BUNDLED_TRAIN,
      '--eval-data',
      BUNDLED_TEST,
      '--eval-limit',
      '100',
      '--bits',
      '4',
      '--max-steps',
      '2',
      '--batch-size',
      '64',
      '--calibration-batches',
      '1',
      '--out-dir',
      dir,
      ...extra,
    ]);

  it('runs a point per mode (static without hbits or target), each converted in its mode, and prints one table', async () => {
    const dir = join(tmp.dir, 'modes');
    const run = await sweep(dir, '--mode', 'pg,static,seernet', '--hbits', '2', '--target-sparsity', '0.8', '--cost', 'all');
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(await readFile(join(dir, 'sweep.json'), 'utf8')) as SweepResult;
    expect(schemaErrors('sweep', summary)).toEqual([]);
    expect(summary.grid.mode).toEqual(['pg', 'static', 'seernet']);
    expect(summary.points.map((p) => [p.id, p.mode, p.hbits, p.target_sparsity, p.status])).toEqual([
      ['b4-h2-s0.8', 'pg', 2, 0.8, 'complete'],
      ['static-b4', 'static', null, null, 'complete'],
      ['seernet-b4-h2-s0.8', 'seernet', 2, 0.8, 'complete'],
    ]);
    const reports = await Promise.all(summary.points.map(async (p) => (JSON.parse(await readFile(join(dir, p.report!), 'utf8')) as { report: ReportJson }).report));
    expect(reports.map((r) => r.mode)).toEqual(['pg', 'static', 'seernet']);
    expect(reports.map((r) => r.layers.filter((l) => l.gated).length > 0)).toEqual([true, false, true]);
    expect(reports[2].layers.filter((l) => l.gated).every((l) => l.gate_mode === 'seernet')).toBe(true);
    // The static point is the uniform baseline: no gated layer, so its BitOps are static B's.
    expect(summary.points[1].whole_model!.bitops_vs_static_b).toBe(1);
    for (const p of summary.points) {
      expect(p.accuracy_drop).toBeCloseTo(summary.float_accuracy! - p.accuracy!, 12);
      expect(p.costs.map((c) => c.backend)).toEqual(['bit-serial', 'bit-fusion', 'gpu', 'cpu-int8']);
    }
    // One table: mode, bits, accuracy, drop, sparsity, whole-model act bits, each cost model.
    const header = run.stdout.split('\n').find((l) => l.startsWith('point'))!;
    expect(header.split(/\s{2,}/)).toEqual(
      expect.arrayContaining(['mode', 'bits', 'accuracy', 'drop', 'sparsity (gated)', 'act bits (whole)', 'bit-serial (whole)', 'cpu-int8 (whole)']),
    );
    expect(run.stdout).toMatch(/^static-b4\s+static\s+4\s/m);
    expect(run.stdout).toMatch(/^seernet-b4-h2-s0\.8\s+seernet\s+4\/2\s/m);
  });

  it('refuses an unknown mode and flags a static-only grid cannot use, naming the flag, writing nothing', async () => {
    for (const [extra, flag] of [
      [['--mode', 'pg,foo', '--target-sparsity', '0.8'], /--mode foo/],
      [['--mode', 'static', '--hbits', '2'], /--hbits/],
      [['--mode', 'seernet'], /--target-sparsity is required/],
    ] as const) {
      const dir = join(tmp.dir, `bad-${extra.join('_')}`);
      const run = await sweep(dir, ...extra);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(flag);
      expect(existsSync(dir)).toBe(false);
    }
  });
});
