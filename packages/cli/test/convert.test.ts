import { copyFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, json, pg, tempDir } from './support/pg.js';
import { schemaErrors } from './support/schemas.js';

interface Layer {
  name: string;
  op: string;
  gated: boolean;
  bits: number | null;
  hbits: number | null;
  wbits: number | null;
  reason: string;
}

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  tmp = await tempDir();
});
afterAll(async () => {
  await tmp.remove();
});

describe('pg convert', () => {
  it('gates the tiny CNN and prints a table and a summary', async () => {
    const out = join(tmp.dir, 'tiny-gated.onnx');
    const run = await pg(['convert', FIXTURES.tiny, '-o', out, '--bits', '4', '--hbits', '2', '--wbits', '8']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^layer\s+op\s+treatment\s+bits\/hbits\/wbits\s+reason/m);
    expect(run.stdout).toMatch(/\/conv2\/Conv\s+Conv\s+gated\s+4\/2\/8/);
    expect(run.stdout).toMatch(/Wrote .*tiny-gated\.onnx: \d+ gated/);
    expect((await stat(out)).size).toBeGreaterThan(0);
  });

  it('--json prints the success envelope with a result that matches convert.schema.json', async () => {
    const out = join(tmp.dir, 'tiny-gated.json.onnx');
    const run = await pg(['convert', FIXTURES.tiny, '-o', out, '--json']);
    expect(run.code).toBe(0);
    const doc = json(run);
    expect(schemaErrors('envelope', doc)).toEqual([]);
    expect(schemaErrors('convert', doc.result)).toEqual([]);
    expect(doc).toMatchObject({ status: 0, warnings: [] });
    const result = doc.result as { output: string; act_scale: string; layers: Layer[] };
    expect(result).toMatchObject({ output: out, bits: 4, hbits: 2, wbits: 8, first_layer_bits: 8, act_scale: 'static', calibrated: false, data: null });
    // The default placement: the first layer quantized at 8 bits, the classifier float, convs feeding a ReLU gated.
    expect(result.layers[0]).toMatchObject({ gated: false, bits: 8, wbits: 8 });
    expect(result.layers.at(-1)).toMatchObject({ op: 'Gemm', gated: false, bits: null });
    expect(result.layers.filter((l) => l.gated).length).toBeGreaterThan(0);
    for (const l of result.layers.filter((x) => x.gated)) expect(l).toMatchObject({ bits: 4, hbits: 2, wbits: 8 });
    // Nothing but the JSON on stdout, nothing on stderr.
    expect(run.stderr).toBe('');
  });

  it('honours --include/--exclude, --act-scale dynamic and other bit widths', async () => {
    const out = join(tmp.dir, 'tiny-custom.onnx');
    const run = await pg(['convert', FIXTURES.tiny, '-o', out, '--bits', '6', '--hbits', '4', '--wbits', '32', '--act-scale', 'dynamic', '--exclude', '/conv2/Conv', '--json']);
    expect(run.code).toBe(0);
    const result = json(run).result as { act_scale: string; layers: Layer[] };
    expect(schemaErrors('convert', result)).toEqual([]);
    expect(result.act_scale).toBe('dynamic');
    expect(result.layers.find((l) => l.name === '/conv2/Conv')).toMatchObject({ gated: false });
    for (const l of result.layers.filter((x) => x.gated)) expect(l).toMatchObject({ bits: 6, hbits: 4, wbits: 32 });
  });

  it('--mode static quantizes every layer pg would gate, --mode seernet gates them in SeerNet form; both say so in the table and the JSON', async () => {
    const st = join(tmp.dir, 'tiny-static.onnx');
    const runStatic = await pg(['convert', FIXTURES.tiny, '-o', st, '--mode', 'static', '--bits', '3', '--json']);
    expect(runStatic.code, runStatic.stderr).toBe(0);
    const rs = json(runStatic).result as { mode: string; hbits: number | null; layers: Layer[] };
    expect(schemaErrors('convert', rs)).toEqual([]);
    expect(rs).toMatchObject({ mode: 'static', bits: 3, hbits: null });
    expect(rs.layers.some((l) => l.gated)).toBe(false);
    expect(rs.layers.filter((l) => /^--mode static: quantized statically where pg would gate/.test(l.reason)).length).toBeGreaterThan(0);
    const seer = join(tmp.dir, 'tiny-seernet.onnx');
    const runSeer = await pg(['convert', FIXTURES.tiny, '-o', seer, '--mode', 'seernet']);
    expect(runSeer.code, runSeer.stderr).toBe(0);
    expect(runSeer.stdout).toMatch(/\/conv2\/Conv\s+Conv\s+gated\s+4\/2\/8 seernet/);
    expect(runSeer.stdout).toMatch(/at 4\/2 bits \(--mode seernet\)/);
    const seerJson = await pg(['convert', FIXTURES.tiny, '-o', seer, '--force', '--mode', 'seernet', '--json']);
    const rj = json(seerJson).result as { layers: (Layer & { gate_mode?: string })[] };
    expect(schemaErrors('convert', rj)).toEqual([]);
    expect(rj.layers.filter((l) => l.gated).every((l) => l.gate_mode === 'seernet')).toBe(true);
  });

  it('refuses an unknown --mode, --hbits with --mode static, hbits >= bits and --gate-residual with --mode seernet: usage errors naming the flag, nothing written', async () => {
    for (const [extra, message] of [
      [['--mode', 'uniform'], /--mode=uniform to be one of: pg, static, seernet/],
      [['--mode', 'static', '--hbits', '2'], /--hbits has no meaning with --mode static/],
      [['--mode', 'seernet', '--bits', '3', '--hbits', '3'], /--hbits 3 must be at least 1 and less than --bits 3 \(--mode seernet/],
      [['--mode', 'seernet', '--gate-residual'], /--mode seernet cannot be combined with --gate-residual/],
    ] as const) {
      const out = join(tmp.dir, `refused-${extra.join('')}.onnx`);
      const run = await pg(['convert', FIXTURES.tiny, '-o', out, ...extra]);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).not.toMatch(/\n\s+at /);
      await expect(stat(out)).rejects.toThrow();
    }
  });

  it('calibrates static activation scales with --data', async () => {
    const out = join(tmp.dir, 'tiny-calibrated.onnx');
    const run = await pg(['convert', FIXTURES.tiny, '-o', out, '--data', 'fashion-mnist:train?source=bundled', '--calibration-batches', '2', '--json']);
    expect(run.code).toBe(0);
    const result = json(run).result as { calibrated: boolean; data: string };
    expect(schemaErrors('convert', result)).toEqual([]);
    expect(result.calibrated).toBe(true);
    expect(result.data).toMatch(/^fashion-mnist:train .*bundled/);
  });

  it('--first-layer-bits quantizes the first layer (8/8 bits, calibrated with --data); out of range or a word other than float is a usage error', async () => {
    const out = join(tmp.dir, 'tiny-first8.onnx');
    const run = await pg([
      'convert',
      FIXTURES.tiny,
      '-o',
      out,
      '--first-layer-bits',
      '8',
      '--data',
      'fashion-mnist:train?source=bundled',
      '--calibration-batches',
      '1',
      '--batch-size',
      '16',
      '--json',
    ]);
    expect(run.code).toBe(0);
    const result = json(run).result as { first_layer_bits: number | null; layers: Layer[] };
    expect(schemaErrors('convert', result)).toEqual([]);
    expect(result.first_layer_bits).toBe(8);
    expect(result.layers[0]).toMatchObject({ gated: false, bits: 8, hbits: null, wbits: 8 });
    expect(result.layers[0].reason).toMatch(/first layer.*quantized statically/);
    expect(result.layers.filter((l) => l.gated).every((l) => l.bits === 4 && l.wbits === 8)).toBe(true);
    const bad = await pg(['convert', FIXTURES.tiny, '-o', join(tmp.dir, 'tiny-first1.onnx'), '--first-layer-bits', '1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--first-layer-bits 1 is out of range/);
    const word = await pg(['convert', FIXTURES.tiny, '-o', join(tmp.dir, 'tiny-first-eight.onnx'), '--first-layer-bits', 'eight']);
    expect(word.code).toBe(2);
    expect(word.stderr).toMatch(/--first-layer-bits: expected a number of bits or 'float', got 'eight'/);
    const text = await pg(['convert', FIXTURES.tiny, '-o', join(tmp.dir, 'tiny-first6.onnx'), '--first-layer-bits', '6']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^\/conv1\/Conv\s+Conv\s+quantized\s+6\/-\/6\s+first layer/m);
    expect(text.stdout).toMatch(/\(the first layer at 6 bits, activations and weights\)/);
  });

  it('--first-layer-bits float keeps the first layer float, as the method does', async () => {
    const run = await pg(['convert', FIXTURES.tiny, '-o', join(tmp.dir, 'tiny-first-float.onnx'), '--first-layer-bits', 'float', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = json(run).result as { first_layer_bits: number | null; layers: Layer[] };
    expect(schemaErrors('convert', result)).toEqual([]);
    expect(result.first_layer_bits).toBeNull();
    expect(result.layers[0]).toMatchObject({ gated: false, bits: null, wbits: null, reason: 'first layer: reads the model input, kept float' });
  });

  it('folds BatchNormalization into the conv before it and says so, per layer, in a summary line and in the JSON', async () => {
    const out = join(tmp.dir, 'bn-gated.onnx');
    const run = await pg(['convert', FIXTURES.bnUnfolded, '-o', out, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = json(run).result as { layers: Layer[]; batch_normalization: { folded: { node: string; into: string; negative_scales: number }[]; kept: unknown[] } };
    expect(schemaErrors('convert', result)).toEqual([]);
    expect(result.batch_normalization.kept).toEqual([]);
    expect(result.batch_normalization.folded).toHaveLength(9);
    expect(result.batch_normalization.folded[0]).toEqual({ node: '/bn1/BatchNormalization', into: '/conv1/Conv', negative_scales: expect.any(Number) });
    expect(result.batch_normalization.folded.every((f) => f.negative_scales > 0)).toBe(true);
    expect(result.layers.find((l) => l.name === '/layer1/conv1/Conv')).toMatchObject({
      gated: true,
      reason: expect.stringMatching(/^output feeds Relu: gated; BatchNormalization '\/layer1\/bn1\/BatchNormalization' folded in/),
    });
    const text = await pg(['convert', FIXTURES.bnUnfolded, '-o', out, '--force']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^Folded 9 BatchNormalization node\(s\) into the Conv\/Gemm before them \(\d+ channel\(s\) with a negative scale\)\.$/m);
  });

  it('overwrites the input only with --force', async () => {
    const copy = join(tmp.dir, 'tiny-copy.onnx');
    await copyFile(FIXTURES.tiny, copy);
    const before = await readFile(copy);
    const refused = await pg(['convert', copy, '-o', copy]);
    expect(refused.code).toBe(2);
    expect(await readFile(copy)).toEqual(before);
    const forced = await pg(['convert', copy, '-o', copy, '--force']);
    expect(forced.code).toBe(0);
    expect(await readFile(copy)).not.toEqual(before);
  });

  it('gates the bundled ResNet (fixtures/models/resnet-fmnist.onnx)', async () => {
    const out = join(tmp.dir, 'resnet-gated.onnx');
    const run = await pg(['convert', FIXTURES.resnet, '-o', out, '--bits', '4', '--hbits', '2', '--wbits', '8', '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const result = json(run).result as { layers: Layer[] };
    expect(schemaErrors('convert', result)).toEqual([]);
    const gated = result.layers.filter((l) => l.gated);
    // A ResNet has several convs feeding a ReLU; the second conv of a block feeds the Add and is quantized.
    expect(gated.length).toBeGreaterThanOrEqual(3);
    expect(result.layers.some((l) => !l.gated && l.bits === 4)).toBe(true);
    expect(result.layers[0]).toMatchObject({ gated: false, bits: 8, wbits: 8 });
    expect((await stat(out)).size).toBeGreaterThan(0);
  });
});
