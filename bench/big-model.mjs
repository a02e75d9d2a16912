#!/usr/bin/env node
// Memory and time of `pg convert` on big models, next to Python's onnx.load + onnx.save as a
// reference, each phase in its own process so peak resident memory (maxRSS) belongs to one tool only.
//
//   node bench/big-model.mjs [--skip-2gb] [--skip-resnet] [--gb 2.2] [--reps 2]
//
// 1. ResNet-50 (torchvision, random weights, about 100 MB; exported to .cache/zoo/resnet50.onnx with
//    fixtures/zoo/make_zoo.py --only resnet50 when absent; the weights, not the 64x64 input, make its size): load + convert + save with pg, peak RSS as
//    a multiple of the model's size (goal < 3x) and time (goal < 2 s); python3-onnx load + save beside it.
// 2. A model over 2 GB: a chain of Gemm+Relu layers whose weights live in an external data file, built
//    in a temp folder one tensor at a time, then loaded, converted and saved by pg.
// Run after `pnpm build`. Times drift on a shared machine: compare pg and Python from the same run.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { zooDir } from './support/zoo.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const core = join(root, 'packages/core/dist/internal.js');
const MB = 2 ** 20;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    child: { type: 'string' },
    'skip-2gb': { type: 'boolean', default: false },
    'skip-resnet': { type: 'boolean', default: false },
    gb: { type: 'string', default: '2.2' },
    reps: { type: 'string', default: '2' },
  },
});

if (values.child !== undefined) {
  await child(values.child, positionals);
} else {
  await main();
}

/** One measured phase in this process; prints one JSON line. */
async function child(kind, args) {
  const t0 = performance.now();
  const c = await import(core);
  const baselineRss = process.resourceUsage().maxRSS * 1024;
  const times = {};
  const lap = async (name, f) => {
    const t = performance.now();
    const r = await f();
    times[name] = performance.now() - t;
    return r;
  };
  if (kind === 'convert') {
    const [input, output] = args;
    const model = await lap('load', () => c.readModel(input));
    await lap('check_weights', () => c.checkFiniteWeights(model));
    const { model: gated } = await lap('convert', () => c.convertModel(model, { bits: 4, hbits: 2, wbits: 8, actScale: 'static' }));
    await lap('save', () => c.writeModel(gated, output));
  } else if (kind === 'build') {
    const [output, gb] = args;
    await lap('build', () => writeChainModel(c, output, Number(gb)));
  } else {
    throw new Error(`unknown child ${kind}`);
  }
  const total = Object.values(times).reduce((a, b) => a + b, 0);
  console.log(JSON.stringify({ times, total_ms: total, import_ms: performance.now() - t0 - total, baseline_rss: baselineRss, peak_rss: process.resourceUsage().maxRSS * 1024 }));
}

/**
 * Input [N, W] -> (Gemm W×W -> Relu) × layers -> Gemm W×10. Tensor data is produced inside data(),
 * so writeModel streams one tensor at a time into the external file and the whole never sits in memory.
 */
async function writeChainModel(c, path, gb) {
  const width = 8192;
  const layerBytes = width * width * 4; // 256 MiB
  const layers = Math.ceil((gb * 1e9) / layerBytes);
  const initializers = new Map();
  const nodes = [];
  let x = 'input';
  const lazyWeight = (name, dims, seed) => ({
    name,
    dtype: 'float32',
    dims,
    data: () => {
      const n = dims.reduce((a, b) => a * b, 1);
      const out = new Float32Array(n);
      let s = seed;
      for (let i = 0; i < n; i++) out[i] = (((s = (s * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24 - 0.5) / width;
      return out;
    },
  });
  for (let l = 0; l < layers; l++) {
    initializers.set(`fc${l}.weight`, lazyWeight(`fc${l}.weight`, [width, width], l + 1));
    initializers.set(`fc${l}.bias`, c.constTensor(`fc${l}.bias`, 'float32', [width], new Float32Array(width)));
    nodes.push({
      name: `/fc${l}/Gemm`,
      opType: 'Gemm',
      domain: '',
      inputs: [x, `fc${l}.weight`, `fc${l}.bias`],
      outputs: [`/fc${l}/Gemm_output_0`],
      attributes: { transB: { type: 'int', value: 1 } },
    });
    nodes.push({ name: `/relu${l}/Relu`, opType: 'Relu', domain: '', inputs: [`/fc${l}/Gemm_output_0`], outputs: [`/relu${l}/Relu_output_0`], attributes: {} });
    x = `/relu${l}/Relu_output_0`;
  }
  initializers.set('head.weight', lazyWeight('head.weight', [10, width], 999));
  nodes.push({ name: '/head/Gemm', opType: 'Gemm', domain: '', inputs: [x, 'head.weight'], outputs: ['logits'], attributes: { transB: { type: 'int', value: 1 } } });
  const model = {
    irVersion: 8,
    opsetImports: [{ domain: '', version: 13 }],
    producerName: 'pg bench/big-model.mjs',
    producerVersion: '',
    domain: '',
    modelVersion: 0,
    docString: '',
    metadata: {},
    graph: {
      name: 'chain',
      nodes,
      initializers,
      inputs: [{ name: 'input', dtype: 'float32', shape: ['N', width] }],
      outputs: [{ name: 'logits', dtype: 'float32', shape: ['N', 10] }],
      valueInfo: new Map(),
    },
    functions: [],
  };
  await c.writeModel(model, path, { externalData: 'all' });
}

function runChild(args) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...args], { encoding: 'utf8', maxBuffer: 64 * MB });
  if (r.status !== 0)
    throw new Error(
      `child ${args.join(' ')} failed (${r.status}):\n${r.stderr
        .split('\n')
        .filter((l) => !l.startsWith('var Module'))
        .join('\n')
        .slice(0, 3000)}`,
    );
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

/** onnx.load + onnx.save in python3-onnx, with its own peak RSS. */
function pythonReference(input, output) {
  const script = `
import json, resource, sys, time
t0 = time.perf_counter()
import onnx
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t1 = time.perf_counter()
m = onnx.load(sys.argv[1])
t2 = time.perf_counter()
onnx.save(m, sys.argv[2])
t3 = time.perf_counter()
print(json.dumps({"times": {"load": (t2 - t1) * 1e3, "save": (t3 - t2) * 1e3}, "total_ms": (t3 - t1) * 1e3, "import_ms": (t1 - t0) * 1e3,
                  "baseline_rss": base, "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
`;
  const r = spawnSync('/usr/bin/python3', ['-c', script, input, output], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python reference failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

function describe(label, r, modelBytes) {
  const phases = Object.entries(r.times)
    .map(([k, v]) => `${k} ${v.toFixed(0)}`)
    .join(', ');
  const extra = r.peak_rss - r.baseline_rss;
  return (
    `${label.padEnd(26)} ${(r.total_ms / 1000).toFixed(2)} s (${phases} ms)  peak RSS ${(r.peak_rss / MB).toFixed(0)} MiB = ${(r.peak_rss / modelBytes).toFixed(2)}x model` +
    `  (${(extra / MB).toFixed(0)} MiB = ${(extra / modelBytes).toFixed(2)}x above the ${(r.baseline_rss / MB).toFixed(0)} MiB after start-up)`
  );
}

async function main() {
  const reps = Number(values.reps);
  if (!existsSync(core)) throw new Error('run `pnpm build` first');
  const tmp = mkdtempSync(join(tmpdir(), 'pg-big-model-'));
  try {
    if (!values['skip-resnet']) {
      // The folder fixtures/zoo/make_zoo.py writes to.
      const zoo = zooDir();
      const resnet = join(zoo, 'resnet50.onnx');
      if (!existsSync(resnet)) {
        mkdirSync(zoo, { recursive: true });
        console.log('exporting ResNet-50 with torchvision (once)...');
        const r = spawnSync('/usr/bin/python3', [join(root, 'fixtures/zoo/make_zoo.py'), '--only', 'resnet50'], { stdio: 'inherit' });
        if (r.status !== 0) throw new Error('ResNet-50 export failed');
      }
      const size = statSync(resnet).size;
      console.log(`\nResNet-50: ${resnet} (${(size / MB).toFixed(1)} MiB); goals: peak RSS < 3x the model, < 2 s`);
      // Alternate the tools so both see the same machine load.
      for (let i = 0; i < reps; i++) {
        console.log(describe(`pg load+convert+save #${i + 1}`, runChild(['--child', 'convert', resnet, join(tmp, 'resnet50-pg.onnx')]), size));
        console.log(describe(`onnx.load+save #${i + 1}`, pythonReference(resnet, join(tmp, 'resnet50-py.onnx')), size));
      }
    }
    if (!values['skip-2gb']) {
      const big = join(tmp, 'chain.onnx');
      const built = runChild(['--child', 'build', big, values.gb]);
      const size = statSync(big).size + statSync(`${big}.data`).size;
      console.log(
        `\n>2 GB model: ${(size / 2 ** 30).toFixed(2)} GiB (model file ${(statSync(big).size / 1024).toFixed(0)} KiB + external data), built in ${(built.total_ms / 1000).toFixed(1)} s, peak RSS ${(built.peak_rss / MB).toFixed(0)} MiB`,
      );
      const r = runChild(['--child', 'convert', big, join(tmp, 'chain-pg.onnx')]);
      console.log(describe('pg load+convert+save', r, size));
      const outSize = statSync(join(tmp, 'chain-pg.onnx')).size + statSync(join(tmp, 'chain-pg.onnx.data')).size;
      console.log(`written: ${(outSize / 2 ** 30).toFixed(2)} GiB (model + external data)`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
