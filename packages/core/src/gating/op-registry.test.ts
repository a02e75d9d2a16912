import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { fixtureModel } from '../../test/fixtures.js';
import { readModel } from '../onnx/index.js';
import { ONNX_OPS } from '../interpreter/ops/index.js';
import { OpRegistry } from '../interpreter/registry.js';
import { convertModel } from './convert.js';
import { PG_DOMAIN } from './format.js';
import { PG_OPS } from './kernels.js';
import { PG_RECURRENT_OPS } from './recurrent-kernels.js';
import { opRegistry } from './op-registry.js';

// The op registry is built from lists in one place (op-registry.ts): it refuses a form declared twice, and
// which kernel runs a node does not depend on which module was imported first.

describe('the op registry', () => {
  it('refuses a form declared twice, naming it', () => {
    expect(() => new OpRegistry([...ONNX_OPS, ...ONNX_OPS])).toThrow(/Conv_1 is already registered/);
    expect(() => new OpRegistry([...ONNX_OPS, ...PG_OPS, ...PG_OPS])).toThrow(/org\.precisiongating\.PGConv_1 is already registered/);
    const reg = new OpRegistry(ONNX_OPS);
    const relu = ONNX_OPS.find((d) => d.op === 'Relu')!;
    expect(() => reg.register({ ...relu })).toThrow(/Relu_1/);
    // A form of a known op at a new opset is a new form, not a duplicate; its siblings' cost class must match.
    expect(() => reg.register({ ...relu, since: 14 })).not.toThrow();
    expect(() => reg.register({ ...relu, since: 30, cost: 'movement' })).toThrow(/Relu_30 has cost class 'movement'/);
  });

  it('picks the form of an op by opset, and says which ops mean the same across opsets', () => {
    expect(opRegistry.find('', 'ReduceMean', 17)!.since).toBe(1);
    expect(opRegistry.find('', 'ReduceMean', 18)!.since).toBe(18);
    expect(opRegistry.find('', 'ReduceMean', 21)!.since).toBe(18);
    expect(opRegistry.find('', 'Split', 1)).toBeUndefined();
    expect(opRegistry.find('ai.onnx', 'Split', 20)!.since).toBe(18);
    expect(opRegistry.find(PG_DOMAIN, 'PGConv', 2)!.since).toBe(2);
    expect(opRegistry.sameMeaning('', 'Relu', 11, 13)).toBe(true);
    expect(opRegistry.sameMeaning('', 'Softmax', 11, 13)).toBe(false);
    expect(opRegistry.sameMeaning('', 'ReduceMax', 11, 13)).toBe(true);
    expect(opRegistry.sameMeaning('', 'ReduceMax', 13, 18)).toBe(false);
    expect(opRegistry.sameMeaning('', 'Upsample', 11, 13)).toBe(false);
    expect(opRegistry.cost('', 'GlobalAveragePool')).toBe('reduction');
    expect(opRegistry.cost(PG_DOMAIN, 'QGemm')).toBe('layer');
  });

  it("holds the interpreter's ops and pg's, and nothing registers itself on import", () => {
    expect(opRegistry.declarations()).toHaveLength(ONNX_OPS.length + PG_OPS.length + PG_RECURRENT_OPS.length);
    expect(opRegistry.ops(PG_DOMAIN)).toEqual([
      'PGConv',
      'PGGRU',
      'PGGemm',
      'PGLSTM',
      'PGMatMul',
      'PGResidualConv',
      'PGResidualGemm',
      'QConv',
      'QGRU',
      'QGemm',
      'QLSTM',
      'QMatMul',
    ]);
    // No module of core imports another of core for its side effects (`import './x.js';`), and none registers
    // ops at its top level.
    const src = fileURLToPath(new URL('..', import.meta.url));
    const offenders = sources(src).filter((f) => /^import '\.[^']*';$/m.test(readFileSync(f, 'utf8')) || /^\w+\.register\(/m.test(readFileSync(f, 'utf8')));
    expect(offenders.map((f) => f.slice(src.length))).toEqual([]);
  });
});

describe("the executor finds pg's kernels whatever the import order", () => {
  // Each order in a fresh module graph: the executor first (pg's modules after it), or pg's registry first.
  const orders = [
    ['../interpreter/executor.js', './op-registry.js'],
    ['./op-registry.js', '../interpreter/executor.js'],
  ] as const;
  it.each(orders)('importing %s, then %s', async (first, second) => {
    const gated = convertModel(await readModel(fixtureModel('tiny-cnn')), { bits: 4, hbits: 2, wbits: 8, actScale: 'dynamic' }).model;
    vi.resetModules();
    const loaded = new Map<string, unknown>();
    for (const path of [first, second]) loaded.set(path, await import(path));
    const { Executor } = loaded.get('../interpreter/executor.js') as typeof import('../interpreter/executor.js');
    const { opRegistry: registry } = loaded.get('./op-registry.js') as typeof import('./op-registry.js');
    const exec = new Executor(gated, { registry });
    // The pg nodes run as themselves (their kernels), not inlined into their ONNX function bodies.
    const pgNodes = gated.graph.nodes.filter((n) => n.domain === PG_DOMAIN).length;
    expect(pgNodes).toBeGreaterThan(0);
    expect(exec.order.filter((n) => n.domain === PG_DOMAIN)).toHaveLength(pgNodes);
    expect(exec.order).toHaveLength(gated.graph.nodes.length);
    exec.dispose();
  });
});

/** The .ts files under `dir` that are not tests. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}
