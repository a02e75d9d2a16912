import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/interpreter/index.js';
import { KNOWN_FAILURES_FILE, TESTDATA, readKnownFailures, runCase, selectCases } from './conformance-suite.js';
import { skipNote } from './support/skip.js';

// The ONNX project's backend tests for every op pg claims (docs/conformance.md lists them). Each must pass,
// except those in conformance-known-failures.json, which must still fail with the reason listed there, so
// that the list (and the docs generated from it) cannot go stale.

const available = existsSync(join(TESTDATA, 'node'));
const known = readKnownFailures();
const { selected } = available ? await selectCases() : { selected: [] };

describe.skipIf(!available)(`ONNX backend conformance (libonnx-testdata)${skipNote(available, `no ${TESTDATA}: apt-get install libonnx-testdata`)}`, () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('selects the tests of the claimed ops, and every known failure among them', () => {
    expect(selected.length).toBeGreaterThan(300);
    const ids = new Set(selected.map((c) => c.id));
    expect(
      Object.keys(known).filter((id) => !ids.has(id)),
      `stale entries in ${KNOWN_FAILURES_FILE}`,
    ).toEqual([]);
  });

  for (const c of selected) {
    const expected = known[c.id];
    it(expected === undefined ? c.id : `${c.id} fails: ${expected}`, async () => {
      const outcome = await runCase(c);
      if (expected === undefined) {
        expect(outcome.reason, `${c.id} (${c.ops.join(', ')}, opset ${c.opset})`).toBeUndefined();
      } else {
        expect(outcome.passed, `${c.id} passes now: remove it from conformance-known-failures.json`).toBe(false);
        expect(outcome.reason).toContain(expected);
      }
    });
  }
});
