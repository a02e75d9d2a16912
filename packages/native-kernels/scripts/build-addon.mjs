#!/usr/bin/env node
// Builds build/pg_native.node with g++ against oneDNN (Debian: apt install libdnnl-dev g++) and Node's
// N-API headers, and checks that it loads. Optional by design: where g++, dnnl.hpp or node_api.h is missing,
// the compiler fails or the addon does not load, this prints why and exits 0, and pg keeps running on pure
// tfjs-wasm. PG_NATIVE=0 skips the build too. PG_NATIVE_REQUIRED=1 (set by .ci/run) makes each of these an
// error (exit 1), so a machine that should run the native tests cannot pass while skipping them.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src', 'pg_native.cc');
const out = join(root, 'build', 'pg_native.node');

const required = process.env.PG_NATIVE_REQUIRED === '1';

function skip(reason) {
  if (required) {
    console.error(`@pg/native-kernels: not built (${reason}), and PG_NATIVE_REQUIRED=1 asks for it`);
    process.exit(1);
  }
  console.log(`@pg/native-kernels: not built (${reason}); pg uses the pure wasm kernels`);
  process.exit(0);
}

/** Exits (through skip) unless the addon at `out` loads in this Node.js. */
function checkLoads() {
  try {
    createRequire(import.meta.url)(out);
  } catch (e) {
    skip(`${out} does not load: ${String(e.message).split('\n')[0]}`);
  }
}

if (process.env.PG_NATIVE === '0') skip('PG_NATIVE=0');
if (process.platform !== 'linux') skip(`platform ${process.platform}: the build script knows Linux only`);
const includeDirs = [process.env.DNNL_INCLUDE, '/usr/include', '/usr/local/include'].filter(Boolean);
const dnnlDir = includeDirs.find((d) => existsSync(join(d, 'dnnl.hpp')));
if (!dnnlDir) skip('dnnl.hpp not found: apt install libdnnl-dev');
// Node's own headers: the install prefix's include/node (Debian's nodejs and the official tarballs have them).
const nodeDirs = [join(dirname(dirname(process.execPath)), 'include', 'node'), '/usr/include/node', '/usr/local/include/node'];
const nodeDir = nodeDirs.find((d) => existsSync(join(d, 'node_api.h')));
if (!nodeDir) skip('node_api.h not found (Node.js headers)');
try {
  execFileSync('g++', ['--version'], { stdio: 'ignore' });
} catch {
  skip('g++ not found: apt install g++');
}

// Up to date: nothing to build (pnpm build runs this every time).
if (existsSync(out) && statSync(out).mtimeMs >= Math.max(statSync(source).mtimeMs, statSync(fileURLToPath(import.meta.url)).mtimeMs)) {
  checkLoads();
  process.exit(0);
}

mkdirSync(dirname(out), { recursive: true });
const tmp = `${out}.tmp-${process.pid}`;
// -O3 -fno-trapping-math: vectorise the PG element-wise loops (GCC's -O2 cost model leaves them scalar, and
// trapping math keeps their selects as branches). Neither changes a result; -ffp-contract=off keeps a*b+c unfused.
const args = [
  '-O3',
  '-std=c++17',
  '-shared',
  '-fPIC',
  '-fopenmp',
  '-fvisibility=hidden',
  '-ffp-contract=off',
  '-fno-trapping-math',
  `-I${nodeDir}`,
  `-I${dnnlDir}`,
  '-DNODE_GYP_MODULE_NAME=pg_native',
  source,
  '-o',
  tmp,
  '-ldnnl',
];
try {
  execFileSync('g++', args, { stdio: ['ignore', 'inherit', 'pipe'] });
} catch (e) {
  const err = e.stderr ? String(e.stderr).split('\n').slice(0, 20).join('\n') : String(e);
  // A stale addon must not stay in use once its source changed.
  rmSync(out, { force: true });
  rmSync(tmp, { force: true });
  skip(`g++ failed:\n${err}`);
}
renameSync(tmp, out);
checkLoads();
console.log(`@pg/native-kernels: built ${out}`);
