import { join } from 'node:path';
import { readModel, writeModel, type Model } from '@pg/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, json, pg, tempDir } from './support/pg.js';
import { schemaErrors } from './support/schemas.js';

interface Layer {
  name: string;
  op: string;
  output_shape: number[] | null;
  params: number;
  macs: number | null;
  gated: boolean;
  bits: number | null;
  hbits: number | null;
  wbits: number | null;
  placement: { role: string; reason: string } | null;
}

interface Inspect {
  gated: boolean;
  pg: Record<string, unknown> | null;
  macs: number | null;
  gated_mac_fraction: number | null;
  unsupported_ops: { op: string; nodes: string[] }[];
  layers: Layer[];
}

interface Decision {
  name: string;
  gated: boolean;
  bits: number | null;
  reason: string;
}

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  tmp = await tempDir();
});
afterAll(async () => {
  await tmp.remove();
});

async function inspectJson(model: string, flags: string[] = []): Promise<Inspect> {
  const run = await pg(['inspect', model, '--json', ...flags]);
  expect(run.code, run.stdout + run.stderr).toBe(0);
  expect(run.stderr).toBe('');
  const doc = json(run);
  expect(schemaErrors('envelope', doc)).toEqual([]);
  expect(schemaErrors('inspect', doc.result)).toEqual([]);
  return doc.result as Inspect;
}

/** The decisions `pg convert --json` makes, in inspect's words. */
async function convertDecisions(model: string, out: string, flags: string[] = []): Promise<{ name: string; role: string; reason: string }[]> {
  const run = await pg(['convert', model, '-o', out, '--json', ...flags]);
  expect(run.code).toBe(0);
  expect(schemaErrors('convert', json(run).result)).toEqual([]);
  const layers = (json(run).result as { layers: Decision[] }).layers;
  // Convert adds a note on float32 exactness, which depends on the bits; inspect places layers without bits.
  const placementReason = (r: string) => r.replace(/; (accumulation|prediction and update) not exact in float32: .*$/, '');
  return layers.map((l) => ({ name: l.name, role: l.gated ? 'gate' : l.bits === null ? 'float' : 'quantize', reason: placementReason(l.reason) }));
}

describe('pg inspect', () => {
  it('describes the tiny CNN for humans: header, then one row per layer with MACs and the convert decision', async () => {
    const run = await pg(['inspect', FIXTURES.tiny]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^format\s+ONNX IR 7, opset ai\.onnx 13$/m);
    expect(run.stdout).toMatch(/^inputs\s+input\s+float32\s+\[N, 1, 28, 28\]$/m);
    expect(run.stdout).toMatch(/^nodes\s+10: Conv 3, Relu 3, /m);
    expect(run.stdout).toMatch(/^unsupported\s+none/m);
    expect(run.stdout).toMatch(/^pg\s+not gated; pg convert would gate 2, quantize 1 and keep 1 layer\(s\) float \(\d+\.\d% of the MACs gated\)$/m);
    expect(run.stdout).toMatch(/^layer\s+op\s+output shape\s+params\s+MACs\s+convert\s+reason$/m);
    expect(run.stdout).toMatch(/^\/conv2\/Conv\s+Conv\s+\[1, 8, 28, 28\]\s+584\s+451,584\s+gate\s+output feeds Relu: gated$/m);
  });

  it('--json: MACs of a conv match the hand computation and the placement matches pg convert', async () => {
    const r = await inspectJson(FIXTURES.tiny);
    const conv2 = r.layers.find((l) => l.name === '/conv2/Conv')!;
    // 3x3 conv, 8 -> 8 channels, padded: 8x28x28 outputs of 8*3*3 MACs each.
    expect(conv2).toMatchObject({ output_shape: [1, 8, 28, 28], params: 8 * 8 * 9 + 8, macs: 8 * 28 * 28 * 8 * 9 });
    expect(r.macs).toBe(r.layers.reduce((a, l) => a + (l.macs ?? 0), 0));
    const placements = r.layers.map((l) => ({ name: l.name, role: l.placement?.role, reason: l.placement?.reason }));
    expect(placements).toEqual(await convertDecisions(FIXTURES.tiny, join(tmp.dir, 'tiny-gated.onnx')));
  });

  it('--json on the bundled ResNet: every layer sized, placement as pg convert', async () => {
    const r = await inspectJson(FIXTURES.resnet);
    expect(r.layers).toHaveLength(10);
    expect(r.layers.every((l) => l.macs !== null && l.macs > 0)).toBe(true);
    const placements = r.layers.map((l) => ({ name: l.name, role: l.placement?.role, reason: l.placement?.reason }));
    expect(placements).toEqual(await convertDecisions(FIXTURES.resnet, join(tmp.dir, 'resnet-gated.onnx')));
  });

  it('by default (--gate-residual) on the bundled ResNet: every block gated on its sum too, as pg convert does; --no-gate-residual: the plain placement; and the gated MAC shares', async () => {
    const plain = await inspectJson(FIXTURES.resnet, ['--no-gate-residual']);
    const r = await inspectJson(FIXTURES.resnet);
    expect(await inspectJson(FIXTURES.resnet, ['--gate-residual'])).toEqual(r);
    const placements = r.layers.map((l) => ({ name: l.name, role: l.placement?.role, reason: l.placement?.reason }));
    expect(placements).toEqual(await convertDecisions(FIXTURES.resnet, join(tmp.dir, 'resnet-residual.onnx')));
    const plainPlacements = plain.layers.map((l) => ({ name: l.name, role: l.placement?.role, reason: l.placement?.reason }));
    expect(plainPlacements).toEqual(await convertDecisions(FIXTURES.resnet, join(tmp.dir, 'resnet-plain.onnx'), ['--no-gate-residual']));
    expect(plainPlacements.filter((p) => p.role === 'gate').map((p) => p.name)).toEqual(['/layer1/conv1/Conv', '/layer2/conv1/Conv', '/layer3/conv1/Conv']);
    expect(placements.filter((p) => p.role === 'gate' && /: gated on the sum/.test(p.reason ?? '')).map((p) => p.name)).toEqual([
      '/layer1/conv2/Conv',
      '/layer2/conv2/Conv',
      '/layer3/conv2/Conv',
    ]);
    expect(plain.gated_mac_fraction).toBeLessThan(0.4);
    expect(r.gated_mac_fraction).toBeGreaterThan(0.9);
  });

  it('--json on models users bring (BN unfolded, an MLP behind Flatten): placement and reasons as pg convert', async () => {
    for (const [model, first] of [
      [FIXTURES.bnUnfolded, /^first layer: reads the model input, quantized statically \(--first-layer-bits\); BatchNormalization '\/bn1\/BatchNormalization' folded in/],
      [FIXTURES.mlp, /^first layer: reads the model input through Flatten, quantized statically \(--first-layer-bits\)$/],
    ] as const) {
      const r = await inspectJson(model);
      const placements = r.layers.map((l) => ({ name: l.name, role: l.placement?.role, reason: l.placement?.reason }));
      expect(placements[0].reason).toMatch(first);
      expect(placements.some((p) => p.role === 'gate')).toBe(true);
      expect(placements).toEqual(await convertDecisions(model, join(tmp.dir, 'user-gated.onnx')));
    }
  });

  it('says a gated model is gated and lists its pg layers with bits', async () => {
    const gated = join(tmp.dir, 'tiny-6-4.onnx');
    expect((await pg(['convert', FIXTURES.tiny, '-o', gated, '--bits', '6', '--hbits', '4', '--wbits', '8'])).code).toBe(0);
    const r = await inspectJson(gated);
    expect(r.gated).toBe(true);
    expect(r.pg).toMatchObject({ bits: 6, hbits: 4, wbits: 8, act_scale: 'static-uncalibrated', gated_layers: 2, quantized_layers: 1 });
    expect(r.layers.filter((l) => l.op === 'PGConv').map((l) => [l.bits, l.hbits, l.wbits])).toEqual([
      [6, 4, 8],
      [6, 4, 8],
    ]);
    expect(r.layers.every((l) => l.placement === null && l.macs !== null)).toBe(true);

    const human = await pg(['inspect', gated]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^pg\s+gated \(format 2\): 2 gated and 1 quantized layer\(s\) at 6\/4 bits, 8-bit weights/m);
    expect(human.stdout).toMatch(/^\/conv2\/Conv\s+PGConv\s+.*gated 6\/4\/8$/m);
  });

  it('lists ops pg cannot run instead of failing; the layers after them have no MACs', async () => {
    const model: Model = await readModel(FIXTURES.tiny);
    const nodes = model.graph.nodes.flatMap((n) =>
      n.opType === 'MaxPool'
        ? [
            { name: 'odd', opType: 'NoSuchOp', domain: 'com.example', inputs: n.inputs, outputs: ['odd_out'], attributes: {} },
            { ...n, inputs: ['odd_out'] },
          ]
        : [n],
    );
    const path = join(tmp.dir, 'unsupported.onnx');
    await writeModel({ ...model, opsetImports: [...model.opsetImports, { domain: 'com.example', version: 1 }], graph: { ...model.graph, nodes } }, path);
    const r = await inspectJson(path);
    expect(r.unsupported_ops).toMatchObject([{ op: 'NoSuchOp', nodes: ['odd'] }]);
    expect(r.layers.map((l) => l.macs === null)).toEqual([false, false, true, true]);
    expect(r.macs).toBeNull();
    const human = await pg(['inspect', path]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^unsupported\s+com\.example\.NoSuchOp \(1 node\(s\), e\.g\. odd\): pg has no kernel for it$/m);
  });

  it('fails on a missing model with exit 6', async () => {
    const run = await pg(['inspect', join(tmp.dir, 'missing.onnx'), '--json']);
    expect(run.code).toBe(6);
    expect(json(run)).toMatchObject({ status: 6, code: 'PG_FILE_ACCESS' });
  });
});
