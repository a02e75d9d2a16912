import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, ROOT, tempDir } from './support/pg.js';

const run = promisify(execFile);

// npm fetches pg's third-party dependencies from the registry: about a minute, so .ci/run sets PG_PACKAGE_TEST=1
// and a developer's quick run leaves it out.
const enabled = process.env.PG_PACKAGE_TEST === '1';
/** Where the oneDNN addon can compile: its install script builds it there and skips it elsewhere. */
const canCompile = existsSync('/usr/include/dnnl.hpp') && existsSync('/usr/bin/g++');

const title = `pg from its npm tarballs${enabled ? '' : ' (skipped: PG_PACKAGE_TEST=1 is not set; npm installs from the registry for about a minute)'}`;

describe.skipIf(!enabled)(title, () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let prefix: string;
  beforeAll(async () => {
    tmp = await tempDir();
    // A clean copy: the tarballs alone in a folder outside the checkout, installed into an empty prefix.
    const pack = join(tmp.dir, 'pack');
    await run(process.execPath, [join(ROOT, 'scripts/pack.mjs'), pack], { cwd: ROOT });
    const tarballs = await readdir(pack);
    expect(tarballs.sort()).toEqual(['pg-cli-0.1.0.tgz', 'pg-core-0.1.0.tgz', 'pg-exporters-0.1.0.tgz', 'pg-native-kernels-0.1.0.tgz']);
    prefix = join(tmp.dir, 'prefix');
    await run('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', './pg-cli-0.1.0.tgz'], {
      cwd: pack,
      env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', PG_NATIVE_REQUIRED: undefined },
      maxBuffer: 1 << 24,
    });
  }, 600_000);
  afterAll(async () => {
    await tmp?.remove();
  });

  it('puts pg on PATH: --version and a convert run from the installed copy, the addon built where it can be', async () => {
    const env = { ...process.env, PATH: `${join(prefix, 'bin')}:${process.env.PATH}`, CI: 'true' };
    const version = await run('pg', ['--version'], { cwd: tmp.dir, env });
    expect(version.stdout).toMatch(/^@pg\/cli\/0\.1\.0 /);
    const model = join(tmp.dir, 'model.onnx');
    await copyFile(FIXTURES.tiny, model);
    const convert = await run('pg', ['convert', model, '-o', join(tmp.dir, 'gated.onnx'), '--json'], { cwd: tmp.dir, env });
    expect(JSON.parse(convert.stdout)).toMatchObject({ status: 0, result: { output: join(tmp.dir, 'gated.onnx') } });
    const inspect = await run('pg', ['inspect', join(tmp.dir, 'gated.onnx'), '--json'], { cwd: tmp.dir, env });
    expect(JSON.parse(inspect.stdout)).toMatchObject({ result: { gated: true } });
    const addon = join(prefix, 'lib/node_modules/@pg/cli/node_modules/@pg/native-kernels/build/pg_native.node');
    expect(existsSync(addon)).toBe(canCompile);
  });
});
