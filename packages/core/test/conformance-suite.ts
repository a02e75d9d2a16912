import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { onnxOpset, type ConstTensor, type DataType, type Model } from '../src/graph/index.js';
import { upgradeOpset } from '../src/graph/passes/upgrade-opset.js';
import { readModel, readTensorFile } from '../src/onnx/index.js';
import { opRegistry } from '../src/gating/index.js';
import { OnnxRuntimeEngine, type HostTensor } from '../src/engines/index.js';
import { Executor, normaliseDomain, toTfTensor } from '../src/interpreter/index.js';

/**
 * The ONNX project's backend conformance tests (Debian's libonnx-testdata) run on pg's executor: shared by
 * conformance.test.ts (which checks the outcomes against the committed known failures) and
 * conformance-report.ts (which writes docs/conformance.md).
 */

export const TESTDATA = process.env.PG_ONNX_TESTDATA ?? '/usr/share/libonnx-testdata/data';
export const SUITES = ['node', 'pytorch-converted', 'pytorch-operator'] as const;
export const KNOWN_FAILURES_FILE = fileURLToPath(new URL('./conformance-known-failures.json', import.meta.url));

/** Input types the test feeds (tfjs computes in float32/int32/bool; int64 data is narrowed to int32). */
const FEEDABLE: ReadonlySet<DataType> = new Set(['float32', 'int64', 'int32', 'bool']);
const RTOL = 1e-4;
const ATOL = 1e-5;

/**
 * ONNX Runtime's CPU kernels refuse batch-major recurrent layers (layout 1: the `*_batchwise` tests), which pg
 * runs; at opset 21 such a test is checked in pg only, and ONNX Runtime's refusal is checked to be that one.
 */
export const ORT_REFUSES_LAYOUT_1 = /Batchwise recurrent operations \(layout == 1\) are not supported/;
export const ortRefusesLayout1 = (c: Pick<ConformanceCase, 'id' | 'ops'>): boolean => /_batchwise$/.test(c.id) && c.ops.some((op) => ['LSTM', 'GRU', 'RNN'].includes(op));

export interface ConformanceCase {
  /** 'suite/test_name', e.g. 'node/test_relu'. */
  id: string;
  dir: string;
  model: Model;
  /** Distinct op types of the model. */
  ops: string[];
  opset: number;
}

export interface Selection {
  selected: ConformanceCase[];
  /** Tests left out, with why (an op pg does not claim, an input type it cannot feed, an unreadable model). */
  skipped: { id: string; why: string }[];
}

export interface Outcome {
  id: string;
  passed: boolean;
  /** Why a test failed: the error, or the first mismatching output. */
  reason?: string;
}

/** Every test whose ops pg's registry claims at the model's opset and whose inputs pg can feed. */
export async function selectCases(root = TESTDATA): Promise<Selection> {
  const selected: ConformanceCase[] = [];
  const skipped: { id: string; why: string }[] = [];
  for (const suite of SUITES) {
    const base = join(root, suite);
    if (!existsSync(base)) continue;
    for (const name of readdirSync(base).sort()) {
      const id = `${suite}/${name}`;
      const dir = join(base, name);
      if (!existsSync(join(dir, 'model.onnx'))) continue;
      let model: Model;
      try {
        model = await readModel(join(dir, 'model.onnx'));
      } catch (e) {
        skipped.push({ id, why: `pg cannot read the model: ${firstLine(e)}` });
        continue;
      }
      const opsets = new Map(model.opsetImports.map((o) => [normaliseDomain(o.domain), o.version]));
      const opset = opsets.get('') ?? 1;
      const ops = [...new Set(model.graph.nodes.map((n) => (normaliseDomain(n.domain) ? `${n.domain}.` : '') + n.opType))];
      const unclaimed = model.graph.nodes.filter((n) => {
        const domain = normaliseDomain(n.domain);
        return domain !== '' || !opRegistry.find(domain, n.opType, opsets.get(domain) ?? 1);
      });
      if (unclaimed.length) {
        skipped.push({ id, why: `unsupported: ${[...new Set(unclaimed.map((n) => `${n.opType}-${opsets.get(normaliseDomain(n.domain)) ?? 1}`))].join(', ')}` });
        continue;
      }
      const inits = new Set(model.graph.initializers.keys());
      const badInput = model.graph.inputs.find((i) => !inits.has(i.name) && !FEEDABLE.has(i.dtype));
      if (badInput) {
        skipped.push({ id, why: `input type ${badInput.dtype}` });
        continue;
      }
      selected.push({ id, dir, model, ops, opset });
    }
  }
  return { selected, skipped };
}

interface DataSet {
  inputs: ConstTensor[];
  outputs: ConstTensor[];
}

async function readDataSets(dir: string): Promise<DataSet[]> {
  const sets = readdirSync(dir)
    .filter((d) => d.startsWith('test_data_set_'))
    .sort();
  const numbered = (d: string, prefix: string) =>
    readdirSync(d)
      .filter((f) => f.startsWith(prefix) && f.endsWith('.pb'))
      .sort((a, b) => parseInt(a.slice(prefix.length), 10) - parseInt(b.slice(prefix.length), 10))
      .map((f) => join(d, f));
  return Promise.all(
    sets.map(async (s) => ({
      inputs: await Promise.all(numbered(join(dir, s), 'input_').map(readTensorFile)),
      outputs: await Promise.all(numbered(join(dir, s), 'output_').map(readTensorFile)),
    })),
  );
}

/** Runs one test's data sets; a failure is returned, not thrown. */
export async function runCase(c: ConformanceCase): Promise<Outcome> {
  let sets: DataSet[];
  try {
    sets = await readDataSets(c.dir);
  } catch (e) {
    return { id: c.id, passed: false, reason: `test data unreadable: ${firstLine(e)}` };
  }
  let exec: Executor | undefined;
  try {
    exec = new Executor(c.model, { registry: opRegistry });
    const inputNames = feedNames(c.model);
    for (const [k, set] of sets.entries()) {
      const mismatch = tf.tidy(() => {
        // input_K.pb feeds the K-th graph input that is not an initializer (its name may be empty).
        const feeds: Record<string, tf.Tensor> = {};
        set.inputs.forEach((t, i) => (feeds[inputNames.includes(t.name) ? t.name : inputNames[i]] = toTfTensor(t)));
        const outs = exec!.run(feeds);
        const names = c.model.graph.outputs.map((o) => o.name);
        for (const [i, want] of set.outputs.entries()) {
          const got = outs[names[i]];
          const why = got ? compare(tfValues(got), want) : 'not produced';
          if (why) return `data set ${k}, output '${names[i]}': ${why}`;
        }
        return undefined;
      });
      if (mismatch) return { id: c.id, passed: false, reason: mismatch };
    }
    return { id: c.id, passed: true };
  } catch (e) {
    return { id: c.id, passed: false, reason: firstLine(e) };
  } finally {
    exec?.dispose();
  }
}

/** An output as plain values, whichever runtime produced it. */
interface Values {
  shape: readonly number[];
  dtype: string;
  data: ArrayLike<number | bigint | boolean>;
}

/** Why `got` differs from the expected tensor, or undefined when it matches. */
function compare(got: Values, want: ConstTensor): string | undefined {
  if (got.shape.join(',') !== want.dims.join(',')) return `shape [${got.shape.join(', ')}], expected [${want.dims.join(', ')}]`;
  const kind = (d: string) => (d === 'bool' ? 'bool' : d.startsWith('float') ? 'float' : 'int');
  if (kind(got.dtype) !== kind(want.dtype)) return `type ${got.dtype}, expected ${want.dtype}`;
  const g = got.data;
  const w = want.data();
  if (Array.isArray(w)) return 'string outputs cannot be compared';
  const exact = kind(want.dtype) !== 'float';
  for (let i = 0; i < g.length; i++) {
    const a = Number(g[i]);
    const b = Number(w[i]);
    const ok = exact ? a === b : a === b || (Number.isNaN(a) && Number.isNaN(b)) || Math.abs(a - b) <= ATOL + RTOL * Math.abs(b);
    if (!ok) return `element ${i} is ${a}, expected ${b}`;
  }
  return undefined;
}

const tfValues = (t: tf.Tensor): Values => ({ shape: t.shape, dtype: t.dtype, data: t.dataSync() });

/**
 * The test at default-domain opset `target`, rewritten by the opset upgrade pass (its data unchanged: the
 * upgrade keeps each node's meaning), or why the pass refuses it.
 */
export function upgradedCase(c: ConformanceCase, target: number): ConformanceCase | { id: string; why: string } {
  try {
    // No sourcePath: ONNX Runtime then loads the upgraded model from memory, not the original file.
    const model = { ...upgradeOpset(c.model, target, opRegistry), sourcePath: undefined };
    return { ...c, model, opset: onnxOpset(model) };
  } catch (e) {
    return { id: c.id, why: firstLine(e) };
  }
}

/** Runs one test's data sets in ONNX Runtime, the reference: the outcome says whether it agrees with the expected outputs. */
export async function runCaseOrt(c: ConformanceCase): Promise<Outcome> {
  let session: Awaited<ReturnType<OnnxRuntimeEngine['load']>> | undefined;
  try {
    const sets = await readDataSets(c.dir);
    session = await new OnnxRuntimeEngine().load(c.model);
    const inputNames = feedNames(c.model);
    const names = c.model.graph.outputs.map((o) => o.name);
    for (const [k, set] of sets.entries()) {
      const feeds: Record<string, HostTensor> = {};
      set.inputs.forEach((t, i) => (feeds[inputNames.includes(t.name) ? t.name : inputNames[i]] = { dtype: t.dtype, shape: t.dims, data: t.data() } as HostTensor));
      const outs = await session.run(feeds, names);
      for (const [i, want] of set.outputs.entries()) {
        const why = compare(outs[names[i]], want);
        if (why) return { id: c.id, passed: false, reason: `data set ${k}, output '${names[i]}': ${why}` };
      }
    }
    return { id: c.id, passed: true };
  } catch (e) {
    return { id: c.id, passed: false, reason: firstLine(e) };
  } finally {
    await session?.dispose();
  }
}

/** The graph inputs fed by a data set's input_K.pb, in order: those that are not initializers. */
function feedNames(model: Model): string[] {
  const inits = new Set(model.graph.initializers.keys());
  return model.graph.inputs.filter((i) => !inits.has(i.name)).map((i) => i.name);
}

/** The committed list of tests known to fail: test id -> reason. */
export function readKnownFailures(): Record<string, string> {
  return existsSync(KNOWN_FAILURES_FILE) ? (JSON.parse(readFileSync(KNOWN_FAILURES_FILE, 'utf8')) as Record<string, string>) : {};
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}
