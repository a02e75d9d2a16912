import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readModel } from '@pg/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_TEST, BUNDLED_TRAIN, FIXTURES, json, pg, tempDir } from './support/pg.js';
import { schemaErrors } from './support/schemas.js';

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

  it('on SIGINT saves the model and a checkpoint, exits 130, and --resume finishes the run', async () => {
    const out = join(tmp.dir, 'tiny-interrupted.onnx');
    const args = ['finetune', gated, '--data', BUNDLED_TRAIN, '-o', out, '--max-steps', '20', '--batch-size', '8', '--target-sparsity', '0.8', '--seed', '2'];
    let sent = false;
    const run = await pg(args, {
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
    expect(run.stderr).toMatch(
      /^Error \[PG_INTERRUPTED\]: Interrupted by SIGINT after \d+ step\(s\); saved the model trained so far to .*tiny-interrupted\.onnx and a checkpoint to .*tiny-interrupted\.onnx\.ckpt\.json/m,
    );
    const ckpt = `${out}.ckpt.json`;
    // The printed command resumes: the same arguments plus --resume.
    expect(run.stderr).toContain(`Action: Resume with: pg finetune ${gated} --data '${BUNDLED_TRAIN}' -o ${out} --max-steps 20`);
    expect(run.stderr).toContain(`--resume ${ckpt}`);
    expect((await stat(out)).size).toBeGreaterThan(0);
    expect((await stat(`${out}.ckpt.bin`)).size).toBeGreaterThan(0);
    // What was saved is a model pg can use.
    const report = await pg(['report', out, '--data', BUNDLED_TEST, '--limit', '100', '--json']);
    expect(report.code, report.stdout).toBe(0);

    // Other options than the checkpoint's: refused, naming them.
    const mismatch = await pg([...args, '--lr', '0.01', '--resume', ckpt]);
    expect(mismatch.code, mismatch.stderr).toBe(2);
    expect(mismatch.stderr).toMatch(/Cannot resume from .*ckpt\.json: options differ: lr 0\.001 in the checkpoint, 0\.01 now/);

    const resumed = await pg([...args, '--resume', ckpt, '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const doc = json(resumed).result as { steps: number; resumed_from_step: number; stopped: string };
    expect(schemaErrors('finetune', doc)).toEqual([]);
    expect(doc.resumed_from_step).toBeGreaterThan(0);
    expect(doc.steps).toBe(20);
    expect(doc.stopped).toBe('completed');

    // Wherever the signal landed, the result is the uninterrupted run's, tensor for tensor.
    const straight = join(tmp.dir, 'tiny-straight.onnx');
    const whole = await pg([...args.slice(0, 5), straight, ...args.slice(6)]);
    expect(whole.code, whole.stderr).toBe(0);
    const [a, b] = await Promise.all([readModel(out), readModel(straight)]);
    const tensors = (m: typeof a) => [...m.graph.initializers].map(([name, t]) => [name, Array.from(t.data() as ArrayLike<number>)]);
    expect(tensors(a)).toEqual(tensors(b));
  });

  it('--target-bavg, --eval-split, --eval-every and --keep-best: the result lists the evaluations', async () => {
    const out = join(tmp.dir, 'tiny-eval.onnx');
    const run = await pg([
      'finetune',
      gated,
      '--data',
      BUNDLED_TRAIN,
      '-o',
      out,
      '--max-steps',
      '4',
      '--batch-size',
      '32',
      '--target-bavg',
      '2.4',
      '--eval-split',
      '0.1',
      '--eval-every',
      '2',
      '--keep-best',
      '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const doc = json(run).result as { target_sparsity: number; evaluations: { step: number }[]; eval_data: string; kept: { from: string } };
    expect(schemaErrors('finetune', doc)).toEqual([]);
    expect(doc.target_sparsity).toBeCloseTo(0.8, 12);
    expect(doc.evaluations.map((e) => e.step)).toEqual([2, 4]);
    expect(doc.eval_data).toMatch(/held out/);

    // Separate held-out data: evaluated at the end only without --eval-every.
    const other = await pg(['finetune', gated, '--data', BUNDLED_TRAIN, '-o', out, '--max-steps', '2', '--batch-size', '32', '--eval-data', BUNDLED_TEST, '--json']);
    expect(other.code, other.stderr).toBe(0);
    const r = json(other).result as { evaluations: { step: number; accuracy: number }[]; eval_data: string };
    expect(schemaErrors('finetune', r)).toEqual([]);
    expect(r.eval_data).toMatch(/^fashion-mnist:test/);
    expect(r.evaluations.map((e) => e.step)).toEqual([2]);
  });

  it('--time-budget stops the run, keeps what it has and says so', async () => {
    const out = join(tmp.dir, 'tiny-budget.onnx');
    const run = await pg(['finetune', gated, '--data', BUNDLED_TRAIN, '-o', out, '--epochs', '50', '--batch-size', '32', '--time-budget', '5s', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const doc = json(run).result as { stopped: string; steps: number; elapsed_ms: number; checkpoint: string | null };
    expect(schemaErrors('finetune', doc)).toEqual([]);
    expect(doc.stopped).toBe('time-budget');
    // 50 epochs would take many minutes; calibration alone may use up 5 s on a loaded machine (then no step is taken).
    expect(doc.steps).toBeLessThan(200);
    expect(doc.elapsed_ms).toBeLessThan(30_000);
    expect(doc.checkpoint).toBe(`${out}.ckpt.json`);
    expect((await stat(out)).size).toBeGreaterThan(0);
  });

  it("defaults to the recipe; thresholds only (the paper's setting) and no target are one flag away", async () => {
    type Result = { target_sparsity: number | null; final_calibration: boolean; trained: string[]; calibrated: { thresholds: boolean } };
    const run = async (name: string, ...extra: string[]): Promise<Result> => {
      const r = await pg(['finetune', gated, '--data', BUNDLED_TRAIN, '-o', join(tmp.dir, `${name}.onnx`), '--max-steps', '1', '--batch-size', '32', '--json', ...extra]);
      expect(r.code, r.stderr).toBe(0);
      const doc = json(r).result as Result;
      expect(schemaErrors('finetune', doc)).toEqual([]);
      return doc;
    };
    // Everything trained besides the gate's own tensors (thresholds, activation scales): weights and biases.
    const weights = (r: Result) => r.trained.filter((n) => !/\.pg_(threshold|act_scale)$/.test(n));
    const recipe = await run('recipe');
    expect(recipe).toMatchObject({ target_sparsity: 0.85, final_calibration: true, calibrated: { thresholds: true } });
    expect(weights(recipe).length).toBeGreaterThan(0);
    const paper = await run('paper', '--no-train-weights');
    expect(paper).toMatchObject({ target_sparsity: 0.85, final_calibration: true });
    expect(weights(paper)).toEqual([]);
    expect(await run('no-final', '--no-final-calibration')).toMatchObject({ target_sparsity: 0.85, final_calibration: false });
    expect(await run('no-target', '--target-sparsity', 'none')).toMatchObject({ target_sparsity: null, final_calibration: false, calibrated: { thresholds: false } });
  });

  it('refuses bad combinations of the new flags as usage errors, before training', async () => {
    const base = ['finetune', gated, '--data', BUNDLED_TRAIN, '-o', join(tmp.dir, 'never.onnx'), '--max-steps', '1'];
    const cases: [string[], RegExp][] = [
      [['--target-sparsity', '0.8', '--target-bavg', '2.4'], /--target-sparsity and --target-bavg set the same thing/],
      [['--target-bavg', '4.5'], /--target-bavg 4\.5 is outside \[2, 4\]/],
      [['--target-sparsity', 'some'], /--target-sparsity: expected 'none' or a number/],
      [['--target-sparsity', 'none', '--final-calibration'], /--final-calibration needs a target to land on/],
      [['--target-sparsity', 'none', '--target-bavg', '2.4'], /--target-sparsity and --target-bavg set the same thing/],
      [['--keep-best'], /--keep-best needs held-out data/],
      [['--eval-labels', 'y.npy'], /--eval-labels applies only with --eval-data/],
      [['--time-budget', '10x'], /--time-budget: expected a duration such as 90s, 10m or 1h30m, got '10x'/],
    ];
    for (const [extra, message] of cases) {
      const run = await pg([...base, ...extra]);
      expect(run.code, `${extra.join(' ')}: ${run.stderr}`).toBe(2);
      expect(run.stderr).toMatch(message);
    }
    // A --mode static model has no gate: a target has nothing to aim at.
    const st = join(tmp.dir, 'tiny-static.onnx');
    expect((await pg(['convert', FIXTURES.tiny, '-o', st, '--mode', 'static'])).code).toBe(0);
    const target = await pg(['finetune', st, '--data', BUNDLED_TRAIN, '-o', join(tmp.dir, 'never.onnx'), '--max-steps', '1', '--target-sparsity', '0.8']);
    expect(target.code, target.stderr).toBe(2);
    expect(target.stderr).toMatch(/--target-sparsity: .*tiny-static\.onnx has no gated layers \(pg convert --mode static\)/);
    const missing = await pg([...base, '--resume', join(tmp.dir, 'nothing.ckpt.json')]);
    expect(missing.code, missing.stderr).toBe(6);
    expect(missing.stderr).toMatch(/nothing\.ckpt\.json/);
  });

  it("fine-tunes a --mode static model bare (the recipe's default target is for gated layers): its scales and weights, no target", async () => {
    const st = join(tmp.dir, 'tiny-static-train.onnx');
    expect((await pg(['convert', FIXTURES.tiny, '-o', st, '--mode', 'static'])).code).toBe(0);
    const out = join(tmp.dir, 'tiny-static-tuned.onnx');
    const run = await pg(['finetune', st, '--data', BUNDLED_TRAIN, '-o', out, '--max-steps', '2', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = json(run).result as { target_sparsity: number | null; final_calibration: boolean; calibrated: { thresholds: boolean }; trained: string[] };
    expect(schemaErrors('finetune', result)).toEqual([]);
    expect([result.target_sparsity, result.final_calibration, result.calibrated.thresholds]).toEqual([null, false, false]);
    expect(result.trained.some((name) => name.endsWith('.weight'))).toBe(true);
    expect((await stat(out)).size).toBeGreaterThan(0);
    // Asking for no target is not a target: accepted too.
    const none = await pg(['finetune', st, '--data', BUNDLED_TRAIN, '-o', join(tmp.dir, 'tiny-static-none.onnx'), '--max-steps', '1', '--target-sparsity', 'none']);
    expect(none.code, none.stderr).toBe(0);
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
