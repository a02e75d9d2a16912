#!/usr/bin/env node
// npm tarballs of pg: the CLI and its workspace packages, each depending on the others' tarballs, so that
//   cd OUT && npm install -g ./pg-cli-<version>.tgz
// puts `pg` on PATH without a checkout or a build. Run after `pnpm build`: node scripts/pack.mjs [OUT] (default
// dist-pack/). The native addon's C++ source and build script go in @pg/native-kernels, which builds it on
// install where libdnnl-dev and g++ exist and skips it otherwise (docs/scale-out.md says how npm treats that
// install script). Installing needs the npm registry for the third-party dependencies.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = resolve(process.argv[2] ?? join(root, 'dist-pack'));
/** Dependencies first: each package's tarball name is known before a package that depends on it is packed. */
const PACKAGES = ['native-kernels', 'core', 'exporters', 'cli'];

const tarballName = (name, version) => `${name.replace(/^@/, '').replace('/', '-')}-${version}.tgz`;

for (const pkg of PACKAGES) {
  if (!existsSync(join(root, 'packages', pkg, 'dist'))) {
    console.error(`packages/${pkg}/dist is missing: run pnpm build first`);
    process.exit(1);
  }
}
mkdirSync(out, { recursive: true });
const stage = mkdtempSync(join(tmpdir(), 'pg-pack-'));
const tarballs = new Map();
try {
  for (const pkg of PACKAGES) {
    // pnpm pack copies what the package publishes and turns workspace:* into versions.
    const dir = join(stage, pkg);
    mkdirSync(dir);
    execFileSync('pnpm', ['pack', '--pack-destination', dir], { cwd: join(root, 'packages', pkg), stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('sh', ['-c', 'tar -xzf *.tgz && rm *.tgz'], { cwd: dir });
    const unpacked = join(dir, 'package');
    const manifest = JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8'));
    for (const [dep, spec] of Object.entries(manifest.dependencies ?? {})) {
      // A workspace package's dependency is its tarball, beside it in OUT.
      if (tarballs.has(dep)) manifest.dependencies[dep] = `file:${tarballs.get(dep)}`;
      else if (dep.startsWith('@pg/')) throw new Error(`${manifest.name} depends on ${dep}@${spec}, which is not packed before it`);
    }
    delete manifest.private;
    delete manifest.devDependencies;
    if (pkg === 'native-kernels') manifest.scripts = { install: 'node scripts/build-addon.mjs' };
    writeFileSync(join(unpacked, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    execFileSync('npm', ['pack', '--pack-destination', out, '--silent'], { cwd: unpacked, stdio: ['ignore', 'ignore', 'inherit'] });
    const name = tarballName(manifest.name, manifest.version);
    if (!existsSync(join(out, name))) throw new Error(`npm pack wrote no ${name} in ${out}`);
    tarballs.set(manifest.name, name);
    console.log(join(out, name));
  }
} finally {
  rmSync(stage, { recursive: true, force: true });
}
