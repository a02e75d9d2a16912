// Unit tests of the CLI's own modules (no child process): parsing, error mapping, progress, tables.
import { PassThrough } from 'node:stream';
import { Parser } from '@oclif/core';
import { FileAccessError, FINETUNE_DEFAULTS, UsageError, type FinetuneProgress } from '@pg/core';
import { describe, expect, it } from 'vitest';
import { errorEnvelope, renderError, toUsageError } from '../src/envelope.js';
import { parseBackend, parseNumber } from '../src/flags.js';
import { trainingFlags, trainingOptions, type TrainingOptions } from '../src/training-flags.js';
import { createProgress, isCI, progressMode } from '../src/progress.js';
import { duration, renderTable } from '../src/render/table.js';

describe('parseNumber', () => {
  it('accepts numbers within bounds', () => {
    expect(parseNumber('0.85', { min: 0, below: 1 })).toBe(0.85);
    expect(parseNumber('1e-3', { above: 0 })).toBe(0.001);
    expect(parseNumber('128', { integer: true, min: 1 })).toBe(128);
  });
  it('rejects what is not a number, not an integer, or out of bounds, as usage errors', () => {
    expect(() => parseNumber('abc')).toThrow(UsageError);
    expect(() => parseNumber('')).toThrow(/expected a number/);
    expect(() => parseNumber('1.5', { integer: true })).toThrow(/expected an integer/);
    expect(() => parseNumber('1', { min: 0, below: 1 })).toThrow(/>= 0 and < 1, got 1/);
    expect(() => parseNumber('0', { above: 0 })).toThrow(/> 0/);
  });
});

describe('parseBackend', () => {
  it('takes the TensorFlow.js backends', () => {
    expect(['wasm', 'cpu', 'node'].map((b) => parseBackend(b))).toEqual(['wasm', 'cpu', 'node']);
  });
  it('refuses anything else, and a moved value with the flag that takes it now', () => {
    expect(() => parseBackend('gpu')).toThrow("expected one of wasm, cpu, node, got 'gpu'");
    expect(() => parseBackend('onnx')).toThrow(/expected one of/);
    const moved = { onnx: '--format onnx' };
    expect(() => parseBackend('onnx', moved)).toThrow(/'onnx' is not a TensorFlow\.js backend .*: use --format onnx\./);
    try {
      parseBackend('onnx', moved);
    } catch (e) {
      expect(e).toBeInstanceOf(UsageError);
      expect((e as UsageError).action).toBe('Write --format onnx instead of --backend onnx.');
    }
  });
});

describe('training flags', () => {
  const parse = async (argv: string[]): Promise<TrainingOptions> => trainingOptions((await Parser.parse(argv, { flags: trainingFlags })).flags);

  it("default to core's FINETUNE_DEFAULTS", async () => {
    const options = await parse([]);
    const defaults = Object.fromEntries(Object.keys(options).map((k) => [k, FINETUNE_DEFAULTS[k as keyof TrainingOptions]]));
    expect(options).toEqual(defaults);
  });
  it('map every flag to its option', async () => {
    const argv = [
      '--epochs',
      '0.5',
      '--max-steps',
      '7',
      '--batch-size',
      '32',
      '--calibration-batches',
      '2',
      '--seed',
      '3',
      '--lr',
      '0.01',
      '--train-weights',
      '--weight-lr',
      '0.0001',
      '--lr-schedule',
      'constant',
      '--final-calibration',
      '--distill',
      '--gate-target',
      '0.1',
      '--penalty',
      '0.002',
      '--sparsity-weight',
      '2',
      '--alpha',
      '3',
      '--sparse-backprop',
      '--recalibrate',
      '--workers',
      '2',
      '--shards',
      '8',
    ];
    expect(await parse(argv)).toEqual({
      epochs: 0.5,
      maxSteps: 7,
      batchSize: 32,
      calibrationBatches: 2,
      seed: 3,
      lr: 0.01,
      trainWeights: true,
      weightLr: 0.0001,
      lrSchedule: 'constant',
      finalCalibration: true,
      distill: true,
      gateTarget: 0.1,
      penalty: 0.002,
      sparsityWeight: 2,
      alpha: 3,
      sparseBackprop: true,
      recalibrate: true,
      workers: 2,
      shards: 8,
    });
  });
  it('refuse --steps, naming --max-steps', async () => {
    const err = await parse(['--steps', '5']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toMatch(/--steps \n\tthis flag is now --max-steps\./);
    expect((err as UsageError).action).toBe('Write --max-steps 5 instead.');
  });
});

describe('error envelopes', () => {
  it('carries a PgError code, exit status and action', () => {
    const env = errorEnvelope(new FileAccessError("Cannot read 'm.onnx'", { action: 'Check the path.' }), ['w']);
    expect(env).toEqual({ status: 6, name: 'FileAccessError', code: 'PG_FILE_ACCESS', message: "Cannot read 'm.onnx'", action: 'Check the path.', warnings: ['w'] });
    expect(renderError(env)).toBe("Error [PG_FILE_ACCESS]: Cannot read 'm.onnx'\nAction: Check the path.");
  });
  it('treats any other error as internal (exit 1)', () => {
    const env = errorEnvelope(new TypeError('x is undefined'), []);
    expect(env).toMatchObject({ status: 1, code: 'PG_INTERNAL', name: 'TypeError' });
    expect(env.action).toMatch(/PG_DEBUG=1/);
  });
  it("cleans oclif's decorations off parse errors", () => {
    const e = new Error("Parsing --bits \n\texpected an integer, got 'x'\nSee more help with --help");
    const u = toUsageError(e, 'convert');
    expect(u).toBeInstanceOf(UsageError);
    expect(u.message).toBe("--bits: expected an integer, got 'x'");
    expect(u.action).toBe("Run 'pg convert --help' for its arguments and flags.");
  });
});

describe('progress', () => {
  const step = (n: number, total: number): FinetuneProgress => ({ step: n, totalSteps: total, epoch: 0, loss: 0.5, sparsity: 0.8, elapsedMs: n * 100 });

  it('draws a bar on a terminal, lines elsewhere, nothing with --json off a terminal', () => {
    expect(progressMode({ json: false, isTTY: true, ci: false })).toBe('bar');
    expect(progressMode({ json: true, isTTY: true, ci: false })).toBe('bar');
    expect(progressMode({ json: false, isTTY: false, ci: false })).toBe('lines');
    expect(progressMode({ json: false, isTTY: true, ci: true })).toBe('lines');
    expect(progressMode({ json: true, isTTY: false, ci: false })).toBe('none');
  });
  it('reads CI the way CI systems set it', () => {
    expect(isCI({ CI: 'true' })).toBe(true);
    expect(isCI({ CI: '1' })).toBe(true);
    expect(isCI({ CI: 'false' })).toBe(false);
    expect(isCI({})).toBe(false);
  });
  it('prints a line at the first step, every 10% and the last step', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    const p = createProgress('lines', out);
    for (let i = 1; i <= 100; i++) p.update(step(i, 100));
    p.finish();
    const lines = text.trim().split('\n');
    expect(lines.map((l) => l.split(' ')[1])).toEqual(['1/100', '10/100', '20/100', '30/100', '40/100', '50/100', '60/100', '70/100', '80/100', '90/100', '100/100']);
    expect(lines[1]).toMatch(/^step 10\/100 \(10%\) {2}epoch 1 {2}loss 0\.5000 {2}sparsity 0\.800/);
  });
});

describe('text output', () => {
  it('aligns table columns, numbers to the right', () => {
    const t = renderTable(
      [{ header: 'layer' }, { header: 'MACs', align: 'right' }],
      [
        ['a', '1,000'],
        ['long-name', '7'],
      ],
    );
    expect(t).toBe(['layer       MACs', '---------  -----', 'a          1,000', 'long-name      7'].join('\n'));
  });
  it('formats durations', () => {
    expect(duration(850)).toBe('850 ms');
    expect(duration(12_340)).toBe('12.3 s');
    expect(duration(245_000)).toBe('4m 05s');
  });
});
