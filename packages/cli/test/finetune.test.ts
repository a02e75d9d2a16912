import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readModel } from '@pg/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_TEST, BUNDLED_TRAIN, FIXTURES, json, pg, tempDir } from './support/pg.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let gated: string;
beforeAll(async () => {
  tmp = await tempDir();
  gated = join(tmp.dir, 'tiny-gated.onnx');
  const run = await pg(['convert', FIXTURES.tiny, '-o', gated]);
  if (run.code !== 0) throw new Error(`convert failed: ${run.stderr}`);
});
afterAll(async () => {
  await tmp.remove();
});

describe('pg finetune on the tiny CNN', () => {
  it('prints plain progress lines and a summary when not on a terminal', async () => {
    const out = join(tmp.dir, 'tiny-lines.onnx');
    const run = await pg(['finetune', gated, '--data', BUNDLED_TRAIN, '-o', out, '--max-steps', '3', '--batch-size', '32']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/^Training on fashion-mnist:train .*bundled/m);
    expect(run.stderr).toMatch(/^step 3\/3 \(100%\)/m);
    // Plain lines only: a bar's carriage returns would garble CI logs.
    expect(run.stderr).not.toMatch(/\r/);
    expect(run.stdout).toMatch(/^Wrote .*tiny-lines\.onnx/m);
    expect(run.stdout).toMatch(/final loss/);
  });

  it('gives identical models for the same --seed', async () => {
    const outs = [join(tmp.dir, 'seed-a.onnx'), join(tmp.dir, 'seed-b.onnx')];
    for (const out of outs) {
      const run = await pg(['finetune', gated, '--data', BUNDLED_TRAIN, '-o', out, '--max-steps', '3', '--batch-size', '32', '--target-sparsity', '0.8', '--seed', '7', '--json']);
      expect(run.code, run.stdout).toBe(0);
    }
    const reports = await Promise.all(
      outs.map(async (out) => json(await pg(['report', out, '--data', BUNDLED_TEST, '--limit', '200', '--json'])).result as { layers: { threshold: unknown }[] }),
    );
    expect(reports[0].layers.map((l) => l.threshold)).toEqual(reports[1].layers.map((l) => l.threshold));
  });

  it('on SIGINT stops, saves what it trained and exits 130', async () => {
    const out = join(tmp.dir, 'tiny-interrupted.onnx');
    let sent = false;
    const run = await pg(['finetune', gated, '--data', BUNDLED_TRAIN, '-o', out, '--epochs', '50', '--batch-size', '32', '--target-sparsity', '0.8'], {
      onStderr: (text, child) => {
        // Interrupt once training has really started (the first progress line).
        if (!sent && /^step \d+\//m.test(text)) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    });
    expect(sent).toBe(true);
    expect(run.code, run.stderr).toBe(130);
    expect(run.stderr).toMatch(/^Error \[PG_INTERRUPTED\]: Interrupted by SIGINT after \d+ step\(s\); saved the model trained so far to .*tiny-interrupted\.onnx/m);
    expect((await stat(out)).size).toBeGreaterThan(0);
    // What was saved is a model pg can use.
    const report = await pg(['report', out, '--data', BUNDLED_TEST, '--limit', '100', '--json']);
    expect(report.code, report.stdout).toBe(0);
  });

  it('records --mean/--std given as flags in the output model', async () => {
    const out = join(tmp.dir, 'tiny-norm.onnx');
    const run = await pg(['finetune', gated, '--data', BUNDLED_TRAIN, '-o', out, '--max-steps', '1', '--batch-size', '32', '--mean', '0.3', '--std', '0.4']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/mean 0\.3 \(from --mean\), std 0\.4 \(from --std\)/);
    const model = await readModel(out);
    expect(model.metadata['pg.preprocess.mean']).toBe('0.3');
    expect(model.metadata['pg.preprocess.std']).toBe('0.4');
  });
});
