import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The build script's two modes where the addon cannot be built: optional (say why, exit 0) and required
// (PG_NATIVE_REQUIRED=1, as .ci/run sets: exit 1, naming what failed). Both stop before compiling anything.
const SCRIPT = fileURLToPath(new URL('../scripts/build-addon.mjs', import.meta.url));

function build(env: Record<string, string>) {
  // No g++ on this PATH (node itself is called by its full path).
  const r = spawnSync(process.execPath, [SCRIPT], { env: { PATH: '/nonexistent', ...env }, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('build-addon.mjs without a compiler', () => {
  it('skips the addon with a reason and exits 0 by default', () => {
    const r = build({});
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/@pg\/native-kernels: not built \(.+\); pg uses the pure wasm kernels/);
  });

  it('fails with PG_NATIVE_REQUIRED=1, naming what is missing', () => {
    const r = build({ PG_NATIVE_REQUIRED: '1' });
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/not built \((g\+\+ not found|dnnl\.hpp not found|node_api\.h not found).*\), and PG_NATIVE_REQUIRED=1 asks for it/s);
  });

  it('fails with PG_NATIVE_REQUIRED=1 when PG_NATIVE=0 turns it off', () => {
    const r = build({ PG_NATIVE_REQUIRED: '1', PG_NATIVE: '0' });
    expect(r.status).toBe(1);
    expect(r.out).toContain('not built (PG_NATIVE=0), and PG_NATIVE_REQUIRED=1 asks for it');
  });
});
