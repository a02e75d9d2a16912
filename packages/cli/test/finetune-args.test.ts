import { UsageError } from '@pg/core';
import { describe, expect, it } from 'vitest';
import { resumeArgv } from '../src/commands/finetune.js';
import { parseDuration } from '../src/flags.js';

describe('parseDuration', () => {
  it('reads seconds, minutes, hours and their sums; a bare number is seconds', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('45')).toBe(45_000);
  });
  it('refuses anything else as a usage error', () => {
    for (const bad of ['', '10x', 'm', '10 m', '-5s', '1h 2m']) expect(() => parseDuration(bad), bad).toThrow(UsageError);
  });
});

describe('resumeArgv', () => {
  it('repeats the arguments, replacing any --resume, quoting for a shell', () => {
    expect(resumeArgv(['m.onnx', '--data', 'fashion-mnist:train?source=bundled', '-o', 'out.onnx', '--resume', 'old.json'], 'out.onnx.ckpt.json')).toEqual([
      'm.onnx',
      '--data',
      "'fashion-mnist:train?source=bundled'",
      '-o',
      'out.onnx',
      '--resume',
      'out.onnx.ckpt.json',
    ]);
    expect(resumeArgv(['my model.onnx', '--resume=x.json'], "it's.json")).toEqual(["'my model.onnx'", '--resume', "'it'\\''s.json'"]);
  });
});
