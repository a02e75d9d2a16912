import { describe, expect, it } from 'vitest';
import { attentionRole, geluOutput, readModel, tokenLinear, type ConstTensor, type Graph, type Model, type Node, type TokenGraph } from '../src/internal.js';
import { fixtureModel, hasFixture } from './fixtures.js';
import { skipNote } from './support/skip.js';
import { buildModel, floatScalar, node, sineTensor, valueInfo } from './support/model-builder.js';

// The transformer rules on PyTorch's exports: each block's linear layers found with their bias, the first
// feed-forward layer's GELU in every form, and the attention's projections told from the feed-forward layers.

function view(graph: Graph): TokenGraph {
  const consumers = new Map<string, Node[]>();
  const producers = new Map<string, Node>();
  for (const n of graph.nodes) {
    for (const i of n.inputs) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);
    for (const o of n.outputs) if (o) producers.set(o, n);
  }
  const constant = (name: string): ConstTensor | undefined => {
    const init = graph.initializers.get(name);
    if (init) return init;
    const p = producers.get(name);
    const v = p?.opType === 'Constant' ? p.attributes.value : undefined;
    return v?.type === 'tensor' ? v.value : undefined;
  };
  return { graph, consumers, producers, constant };
}

/** Per token layer (by its module path): its role, 'gelu' when a GELU reads it, and whether it has a bias. */
function describeLayers(model: Model): Record<string, string> {
  const g = view(model.graph);
  const out: Record<string, string> = {};
  for (const n of model.graph.nodes) {
    const layer = tokenLinear(n, g);
    if (!layer) continue;
    const role = attentionRole(layer, g) ?? (geluOutput(layer.output, g) ? 'gelu' : 'other');
    out[n.name.replace(/^\/blocks\/|\/MatMul$/g, '')] = `${role}${layer.bias ? '' : ' (no bias)'}`;
  }
  return out;
}

const VIT_BLOCK = { 'attn/qkv': 'projection', 'attn/proj': 'output', 'mlp/fc1': 'gelu', 'mlp/fc2': 'other' };

describe('linear layers on tokens in PyTorch exports', () => {
  for (const name of ['vit-tiny-opset13', 'vit-tiny-opset20']) {
    it.skipIf(!hasFixture(name))(`${name}: qkv and the output projection are the attention's, fc1 feeds GELU${skipNote(hasFixture(name), `no fixture ${name}`)}`, async () => {
      const layers = describeLayers(await readModel(fixtureModel(name)));
      const expected = Object.fromEntries([0, 1].flatMap((b) => Object.entries(VIT_BLOCK).map(([k, v]) => [`blocks.${b}/${k}`, v])));
      expect(layers).toEqual(expected);
    });
  }

  it.skipIf(!hasFixture('bert-tiny'))(
    `bert-tiny: the same roles in post-norm blocks (the attention mask added to the scores)${skipNote(hasFixture('bert-tiny'), 'no fixture bert-tiny')}`,
    async () => {
      const layers = describeLayers(await readModel(fixtureModel('bert-tiny')));
      expect(Object.values(layers)).toEqual(['projection', 'output', 'gelu', 'other', 'projection', 'output', 'gelu', 'other']);
    },
  );
});

describe('GELU written as ops', () => {
  const x = 'x';
  const forms: [string, Node[]][] = [
    [
      'x·0.5 first, x·(1/√2) (Hugging Face)',
      [node('Mul', [x, 'half'], 'h'), node('Mul', [x, 'isqrt2'], 'd'), node('Erf', ['d'], 'e'), node('Add', ['e', 'one'], 'a'), node('Mul', ['h', 'a'], 'y')],
    ],
    ['PyTorch 1.13', [node('Div', [x, 'sqrt2'], 'd'), node('Erf', ['d'], 'e'), node('Add', ['one', 'e'], 'a'), node('Mul', [x, 'a'], 'm'), node('Mul', ['m', 'half'], 'y')]],
  ];
  const consts = [floatScalar('half', 0.5), floatScalar('isqrt2', Math.SQRT1_2), floatScalar('sqrt2', Math.SQRT2), floatScalar('one', 1), floatScalar('two', 2)];
  const graphOf = (nodes: Node[]) => buildModel({ nodes, initializers: [...consts, sineTensor('w', [3, 3], 1)], inputs: [valueInfo(x, [2, 3])], outputs: [valueInfo('y')] }).graph;

  for (const [label, nodes] of forms) {
    it(`is found: ${label}`, () => {
      expect(geluOutput(x, view(graphOf(nodes)))?.outputs[0]).toBe('y');
    });
  }

  it('is not found when a constant is off (x/2 is not x/√2) or x has another reader', () => {
    const [, nodes] = forms[1];
    const wrong = nodes.map((n) => (n.opType === 'Div' ? { ...n, inputs: [x, 'two'] } : n));
    expect(geluOutput(x, view(graphOf(wrong)))).toBeUndefined();
    expect(geluOutput(x, view(graphOf([...nodes, node('Relu', [x], 'r')])))).toBeUndefined();
  });
});
