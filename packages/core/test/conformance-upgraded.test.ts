import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/interpreter/index.js';
import { ORT_REFUSES_LAYOUT_1, TESTDATA, ortRefusesLayout1, readKnownFailures, runCase, runCaseOrt, selectCases, upgradedCase, type ConformanceCase } from './conformance-suite.js';

// Debian's ONNX conformance data stops at opset 17 (onnx 1.12), while PyTorch 2's exporters write 18 to 21.
// The same tests, brought to opset 21 by pg's opset upgrade pass (the Reduce ops' axes become inputs at 18,
// Split gets num_outputs...), must give the expected outputs in pg and in ONNX Runtime alike: ONNX Runtime
// checks that the rewritten models are valid opset-21 models meaning what the originals meant, pg that it
// runs them. The forms new at 18 to 21 (Pad's axes, wrap mode, dilated AveragePool, num_outputs with a
// smaller last part) have no conformance data here: opset18-21.test.ts builds them.

const TARGET = 21;
const available = existsSync(join(TESTDATA, 'node'));
const known = readKnownFailures();
const { selected } = available ? await selectCases() : { selected: [] };
const upgraded: ConformanceCase[] = [];
const refused: { id: string; why: string }[] = [];
for (const c of selected.filter((c) => !(c.id in known))) {
  const u = upgradedCase(c, TARGET);
  if ('model' in u) upgraded.push(u);
  else refused.push(u);
}

describe.skipIf(!available)(`ONNX backend conformance at opset ${TARGET} (libonnx-testdata, upgraded)`, () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('upgrades every test but those whose op changed in a way pg does not rewrite', () => {
    expect(upgraded.length).toBeGreaterThan(400);
    // Softmax and LogSoftmax before 13 (the 2-D coercion is the per-axis form only for the last axis) are the
    // only forms without a rewrite among the tests.
    const ops = new Set(refused.map((r) => /\((\w+)\) cannot be brought/.exec(r.why)?.[1]));
    expect([...ops].sort()).toEqual(['LogSoftmax', 'Softmax']);
    for (const r of refused) expect(r.why).toMatch(/its form changed at opset 13, which pg does not rewrite/);
  });

  for (const c of upgraded) {
    it(`${c.id} (${c.ops.join(', ')})`, async () => {
      if (ortRefusesLayout1(c)) expect((await runCaseOrt(c)).reason, 'ONNX Runtime').toMatch(ORT_REFUSES_LAYOUT_1);
      else expect((await runCaseOrt(c)).reason, 'ONNX Runtime').toBeUndefined();
      expect((await runCase(c)).reason, 'pg').toBeUndefined();
    });
  }
});
