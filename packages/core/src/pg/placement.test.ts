import { describe, expect, it } from 'vitest';
import { constTensor, type AttributeValue, type Graph, type Node } from '../graph/index.js';
import { placeLayers } from './placement.js';

// Which activations count as ReLU-like for gating: Relu, Clip from 0, HardSwish, and Swish written as
// x * Sigmoid(x) (PyTorch's SiLU, EfficientNet) or x * HardSigmoid(x) (HardSwish before opset 14).

const node = (opType: string, inputs: string[], output: string, attributes: Record<string, AttributeValue> = {}): Node => ({
  name: output,
  opType,
  domain: '',
  inputs,
  outputs: [output],
  attributes,
});
const w = (name: string) => constTensor(name, 'float32', [4, 4, 1, 1], new Float32Array(16).fill(0.1));

/** stem conv → `body` (which reads 'h' and writes 'a') → conv 'tail' → graph output. */
function graph(body: (x: string) => Node[]): Graph {
  const nodes = [node('Conv', ['x', 'w0'], 'h0'), node('Conv', ['h0', 'w1'], 'h'), ...body('h'), node('Conv', ['a', 'w2'], 'y')];
  return {
    name: 'g',
    nodes,
    initializers: new Map(['w0', 'w1', 'w2'].map((n) => [n, w(n)])),
    inputs: [{ name: 'x', dtype: 'float32', shape: [1, 4, 2, 2] }],
    outputs: [{ name: 'y', dtype: 'float32' }],
    valueInfo: new Map(),
  };
}

function middle(g: Graph) {
  const placed = placeLayers(g, { include: new Set(), exclude: new Set(), gateDepthwise: false });
  return placed.get(g.nodes.find((n) => n.name === 'h')!)!;
}

const hardSigmoid = { alpha: { type: 'float', value: 1 / 6 }, beta: { type: 'float', value: 0.5 } } as const;

describe('placement of layers before an activation', () => {
  it('gates a conv feeding Swish/SiLU written as x * Sigmoid(x)', () => {
    const p = middle(graph((x) => [node('Sigmoid', [x], 's'), node('Mul', [x, 's'], 'a')]));
    expect(p.role).toBe('gate');
    expect(p.reason).toMatch(/Sigmoid.*Swish/);
  });

  it('gates a conv feeding HardSwish, as an op or as x * HardSigmoid(x)', () => {
    expect(middle(graph((x) => [node('HardSwish', [x], 'a')])).role).toBe('gate');
    expect(middle(graph((x) => [node('HardSigmoid', [x], 's', hardSigmoid), node('Mul', ['s', x], 'a')])).role).toBe('gate');
  });

  it('does not gate a conv whose sigmoid scales something else (squeeze-excitation) or a plain HardSigmoid gate', () => {
    const se = middle(graph((x) => [node('Sigmoid', [x], 's'), node('Mul', ['h0', 's'], 'a')]));
    expect(se.role).toBe('quantize');
    const other = { alpha: { type: 'float', value: 0.2 }, beta: { type: 'float', value: 0.5 } } as const;
    expect(middle(graph((x) => [node('HardSigmoid', [x], 's', other), node('Mul', [x, 's'], 'a')])).role).toBe('quantize');
    expect(middle(graph((x) => [node('Sigmoid', [x], 'a')])).role).toBe('quantize');
  });
});

describe('placement of layers before a Clip (ReLU6)', () => {
  /** Clip(h, lo, 6) with both bounds from Constant nodes, as PyTorch exports ReLU6 at opset >= 11. */
  const clip = (lo: number) => (x: string) => [
    node('Constant', [], 'lo', { value: { type: 'tensor', value: constTensor('lo', 'float32', [], new Float32Array([lo])) } }),
    node('Constant', [], 'hi', { value: { type: 'tensor', value: constTensor('hi', 'float32', [], new Float32Array([6])) } }),
    node('Clip', [x, 'lo', 'hi'], 'a'),
  ];

  it('reads a Clip lower bound given by a Constant node and gates its producer', () => {
    expect(middle(graph(clip(0))).role).toBe('gate');
  });

  it('does not take a Clip with a nonzero lower bound for a ReLU', () => {
    expect(middle(graph(clip(-1))).role).toBe('quantize');
  });
});
