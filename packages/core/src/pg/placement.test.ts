import { describe, expect, it } from 'vitest';
import { constTensor, type Graph, type Node } from '../graph/index.js';
import { placeLayers } from './placement.js';

const node = (name: string, opType: string, inputs: string[], attributes: Node['attributes'] = {}): Node => ({ name, opType, domain: '', inputs, outputs: [`${name}_out`], attributes });

/** x -> conv0 (first) -> conv1 -> Clip(lo, 6) -> conv2 -> y, the Clip's lower bound from `lo`. */
function graphWithClipBound(lo: number): Graph {
  const w = (n: string) => constTensor(n, 'float32', [2, 2, 1, 1], new Float32Array(4));
  const nodes: Node[] = [
    node('conv0', 'Conv', ['x', 'w0']),
    node('conv1', 'Conv', ['conv0_out', 'w1']),
    node('lo', 'Constant', [], { value: { type: 'tensor', value: constTensor('lo', 'float32', [], new Float32Array([lo])) } }),
    node('hi', 'Constant', [], { value: { type: 'tensor', value: constTensor('hi', 'float32', [], new Float32Array([6])) } }),
    node('clip', 'Clip', ['conv1_out', 'lo_out', 'hi_out']),
    node('conv2', 'Conv', ['clip_out', 'w2']),
  ];
  return {
    name: 'g',
    nodes,
    initializers: new Map(['w0', 'w1', 'w2'].map((n) => [n, w(n)])),
    inputs: [{ name: 'x', dtype: 'float32', shape: [1, 2, 4, 4] }],
    outputs: [{ name: 'conv2_out', dtype: 'float32' }],
    valueInfo: new Map(),
  };
}

const roles = (g: Graph) => Object.fromEntries([...placeLayers(g, { include: new Set(), exclude: new Set(), gateDepthwise: false })].map(([n, p]) => [n.name, p.role]));

describe('placeLayers', () => {
  it('reads a Clip lower bound given by a Constant node (ReLU6 as PyTorch exports it) and gates its producer', () => {
    expect(roles(graphWithClipBound(0))).toEqual({ conv0: 'float', conv1: 'gate', conv2: 'float' });
  });

  it('does not take a Clip with a nonzero lower bound for a ReLU', () => {
    expect(roles(graphWithClipBound(-1)).conv1).toBe('quantize');
  });
});
