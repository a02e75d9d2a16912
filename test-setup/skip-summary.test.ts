import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

// Runs Vitest with the skip-summary reporter on a small test file of every kind of outcome.
const dir = mkdtempSync(join(tmpdir(), 'pg-skip-summary-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('groups skipped tests by the reason in their titles and ends with a passed/failed/skipped line', () => {
  writeFileSync(
    join(dir, 'sample.test.ts'),
    [
      "import { describe, it } from 'vitest';",
      "describe.skip('needs X (skipped: no X here)', () => { it('a', () => {}); it('b', () => {}); });",
      "it.skip('skipped: no Y (apt-get install y)', () => {});",
      "it.skip('says nothing', () => {});",
      "it.todo('later');",
      "it('runs', () => {});",
      "it('fails', () => { throw new Error('no'); });",
    ].join('\n'),
  );
  writeFileSync(join(dir, 'vitest.config.mjs'), `export default { test: { reporters: [${JSON.stringify(join(import.meta.dirname, 'skip-summary.ts'))}] } };`);
  const vitest = join(createRequire(import.meta.url).resolve('vitest/package.json'), '..', 'vitest.mjs');
  const r = spawnSync(process.execPath, [vitest, 'run', '--root', dir], { encoding: 'utf8', env: { ...process.env, CI: '1' } });
  expect(r.status).toBe(1);
  const lines = r.stdout.split('\n').map((l) => l.trim());
  expect(lines).toContain('Skipped 5, by reason:');
  expect(lines).toContain('2  no X here');
  expect(lines).toContain('1  no Y (apt-get install y)');
  expect(lines).toContain('1  todo');
  expect(lines).toContain('1  no reason given (say why in the title: "... (skipped: REASON)")');
  expect(lines.filter((l) => l.endsWith('sample.test.ts > says nothing'))).toHaveLength(1);
  expect(lines).toContain('tests: 1 passed, 1 failed, 5 skipped');
});
