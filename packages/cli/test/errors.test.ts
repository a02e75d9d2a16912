import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { FIXTURES, json, pg, tempDir } from './support/pg.js';
import { schemaErrors } from './support/schemas.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let notOnnx: string;
beforeAll(async () => {
  tmp = await tempDir();
  notOnnx = join(tmp.dir, 'notes.onnx');
  await writeFile(notOnnx, 'this is a text file, not a protobuf ONNX model\n');
});
afterAll(async () => {
  await tmp.remove();
});

const out = (): string => join(tmp.dir, 'out.onnx');

/** Each bad input, the exit code and error code it must give (docs/exit-codes.md). */
const cases: { name: string; args: () => string[]; status: number; code: string; message: RegExp }[] = [
  { name: 'a missing model file', args: () => ['convert', join(tmp.dir, 'missing.onnx'), '-o', out()], status: 6, code: 'PG_FILE_ACCESS', message: /missing\.onnx.*does not exist/ },
  { name: 'a file that is not ONNX', args: () => ['convert', notOnnx, '-o', out()], status: 3, code: 'PG_INVALID_MODEL', message: /notes\.onnx/ },
  { name: '--hbits not below --bits', args: () => ['convert', FIXTURES.tiny, '-o', out(), '--bits', '4', '--hbits', '4'], status: 2, code: 'PG_USAGE', message: /--hbits/ },
  { name: 'an unknown --include name', args: () => ['convert', FIXTURES.tiny, '-o', out(), '--include', 'no-such-node'], status: 2, code: 'PG_USAGE', message: /no-such-node/ },
  { name: 'an unknown flag', args: () => ['convert', FIXTURES.tiny, '-o', out(), '--frobnicate'], status: 2, code: 'PG_USAGE', message: /--frobnicate/ },
  { name: 'a non-numeric --bits', args: () => ['convert', FIXTURES.tiny, '-o', out(), '--bits', 'four'], status: 2, code: 'PG_USAGE', message: /--bits: expected an integer/ },
  { name: 'a missing MODEL argument', args: () => ['convert', '-o', out()], status: 2, code: 'PG_USAGE', message: /Missing 1 required arg/ },
  { name: 'output == input without --force', args: () => ['convert', FIXTURES.tiny, '-o', FIXTURES.tiny], status: 2, code: 'PG_USAGE', message: /is the input model/ },
  { name: '--data with a bad spec', args: () => ['convert', FIXTURES.tiny, '-o', out(), '--data', 'pictures.txt'], status: 2, code: 'PG_USAGE', message: /pictures\.txt/ },
  { name: 'a bad fashion-mnist split', args: () => ['report', FIXTURES.tiny, '--data', 'fashion-mnist:validation'], status: 2, code: 'PG_USAGE', message: /validation/ },
  { name: '--mean without --data', args: () => ['convert', FIXTURES.tiny, '-o', out(), '--mean', '0.5'], status: 2, code: 'PG_USAGE', message: /--data/ },
  { name: 'a missing .npz data file', args: () => ['report', FIXTURES.tiny, '--data', join(tmp.dir, 'nothing.npz')], status: 6, code: 'PG_FILE_ACCESS', message: /nothing\.npz/ },
  { name: 'an unknown command', args: () => ['frobnicate'], status: 2, code: 'PG_USAGE', message: /frobnicate/ },
  { name: 'an unknown --backend', args: () => ['report', FIXTURES.tiny, '--data', 'fashion-mnist:test', '--backend', 'gpu'], status: 2, code: 'PG_USAGE', message: /gpu/ },
];

// Each case is a separate process, mostly waiting on start-up: run them side by side.
describe.concurrent('exit codes and error output', () => {
  for (const c of cases) {
    it(`${c.name}: exit ${c.status}, "Error [${c.code}]" and an Action on stderr`, async ({ expect }) => {
      const run = await pg(c.args());
      expect(run.code, run.stderr).toBe(c.status);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(new RegExp(`^Error \\[${c.code}\\]: `));
      expect(run.stderr).toMatch(c.message);
      expect(run.stderr).toMatch(/^Action: \S/m);
      // No stack trace unless PG_DEBUG=1.
      expect(run.stderr).not.toMatch(/^\s+at /m);
    });

    it(`${c.name} with --json: the error envelope on stdout`, async ({ expect }) => {
      const run = await pg([...c.args(), '--json']);
      expect(run.code).toBe(c.status);
      const doc = json(run);
      expect(schemaErrors('envelope', doc)).toEqual([]);
      expect(doc).toMatchObject({ status: c.status, code: c.code });
      expect(doc.message).toMatch(c.message);
    });
  }

  it('PG_DEBUG=1 adds the stack trace', async ({ expect }) => {
    const run = await pg(['convert', notOnnx, '-o', out()], { env: { PG_DEBUG: '1' } });
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/^\s+at /m);
  });
});
