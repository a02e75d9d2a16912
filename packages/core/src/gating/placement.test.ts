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

describe('the first layer and the classifier, found through paths', () => {
  const place = (g: Graph) => new Map([...placeLayers(g, { include: new Set(), exclude: new Set(), gateDepthwise: false })].map(([n, p]) => [n.name, p]));
  const constant = (name: string) => node('Constant', [], name, { value: { type: 'tensor', value: constTensor(name, 'float32', [], new Float32Array([0.5])) } });
  const gemmW = (name: string, m: number, k: number) => constTensor(name, 'float32', [m, k], new Float32Array(m * k).fill(0.1));
  const model = (nodes: Node[], inits = new Map<string, ReturnType<typeof w>>(), input = 'x'): Graph => ({
    name: 'g',
    nodes,
    initializers: new Map([['w0', w('w0')], ['w1', w('w1')], ['w2', w('w2')], ...inits]),
    inputs: [{ name: input, dtype: 'float32', shape: [1, 4, 2, 2] }],
    outputs: [{ name: 'y', dtype: 'float32' }],
    valueInfo: new Map(),
  });
  const gemm = (x: string, wName: string, y: string) => node('Gemm', [x, wName], y, { transB: { type: 'int', value: 1 } });

  it('an MLP behind Flatten: the first Gemm reads the model input through Flatten, the middle one is gated', () => {
    const g = model(
      [node('Flatten', ['x'], 'f'), gemm('f', 'g0', 'h0'), node('Relu', ['h0'], 'r0'), gemm('r0', 'g1', 'h1'), node('Relu', ['h1'], 'r1'), gemm('r1', 'g2', 'y')],
      new Map([
        ['g0', gemmW('g0', 8, 16)],
        ['g1', gemmW('g1', 8, 8)],
        ['g2', gemmW('g2', 3, 8)],
      ]),
    );
    const p = place(g);
    expect(p.get('h0')).toEqual({ role: 'float', reason: 'first layer: reads the model input through Flatten, kept float' });
    expect(p.get('h1')!.role).toBe('gate');
    expect(p.get('y')).toEqual({ role: 'float', reason: 'classifier: produces a model output, kept float' });
  });

  it('normalisation (Sub, Div by constants) and an NHWC Transpose before the first conv', () => {
    const sub = model(
      [constant('m'), node('Sub', ['x', 'm'], 's'), node('Div', ['s', 'sd'], 'd'), node('Conv', ['d', 'w0'], 'h0'), node('Relu', ['h0'], 'r'), node('Conv', ['r', 'w1'], 'y')],
      new Map([['sd', w('sd')]]),
    );
    expect(place(sub).get('h0')!.reason).toBe('first layer: reads the model input through Sub → Div, kept float');
    const nhwc = model([
      node('Transpose', ['x'], 't', { perm: { type: 'ints', value: [0, 3, 1, 2] } }),
      node('Conv', ['t', 'w0'], 'h0'),
      node('Relu', ['h0'], 'r'),
      node('Conv', ['r', 'w1'], 'y'),
    ]);
    expect(place(nhwc).get('h0')!.reason).toBe('first layer: reads the model input through Transpose, kept float');
    const quantized = placeLayers(nhwc, { include: new Set(), exclude: new Set(), gateDepthwise: false, quantizeFirstLayer: true });
    expect([...quantized.values()][0]).toMatchObject({
      role: 'quantize',
      firstLayer: true,
      reason: expect.stringMatching(/^first layer: reads the model input through Transpose, quantized statically/),
    });
  });

  it('not through an op that mixes the input with computed values', () => {
    // x - relu(conv(x)): the Sub's other operand is not a constant, so the conv after it is not a first layer.
    const g = model([
      node('Conv', ['x', 'w0'], 'h0'),
      node('Relu', ['h0'], 'r0'),
      node('Sub', ['x', 'r0'], 's'),
      node('Conv', ['s', 'w1'], 'h1'),
      node('Relu', ['h1'], 'r1'),
      node('Conv', ['r1', 'w2'], 'y'),
    ]);
    const p = place(g);
    expect(p.get('h0')!.reason).toMatch(/^first layer: reads the model input, kept float/);
    expect(p.get('h1')!.role).toBe('gate');
  });

  it("SqueezeNet's classifier conv (Conv → Relu → GlobalAveragePool → Flatten → output) stays float", () => {
    const g = model([
      node('Conv', ['x', 'w0'], 'h0'),
      node('Relu', ['h0'], 'r0'),
      node('Conv', ['r0', 'w1'], 'h1'),
      node('Relu', ['h1'], 'r1'),
      node('GlobalAveragePool', ['r1'], 'p'),
      node('Flatten', ['p'], 'y'),
    ]);
    expect(place(g).get('h1')).toEqual({ role: 'float', reason: 'classifier: produces a model output through Relu → GlobalAveragePool → Flatten, kept float' });
    // With a Gemm after the pooling the conv is not the classifier: it feeds a ReLU and is gated.
    const withHead = model(
      [
        node('Conv', ['x', 'w0'], 'h0'),
        node('Relu', ['h0'], 'r0'),
        node('Conv', ['r0', 'w1'], 'h1'),
        node('Relu', ['h1'], 'r1'),
        node('GlobalAveragePool', ['r1'], 'p'),
        node('Flatten', ['p'], 'f'),
        gemm('f', 'g2', 'y'),
      ],
      new Map([['g2', gemmW('g2', 3, 4)]]),
    );
    expect(place(withHead).get('h1')!.role).toBe('gate');
  });

  it('does not gate through a BatchNormalization left unfolded', () => {
    const g = model([
      node('Conv', ['x', 'w0'], 'h0'),
      node('Relu', ['h0'], 'r0'),
      node('Conv', ['r0', 'w1'], 'h1'),
      node('BatchNormalization', ['h1', 's', 'b', 'm', 'v'], 'n'),
      node('Relu', ['n'], 'r1'),
      node('Conv', ['r1', 'w2'], 'y'),
    ]);
    expect(place(g).get('h1')).toMatchObject({ role: 'quantize', reason: expect.stringMatching(/BatchNormalization that could not be folded/) });
  });
});

describe('placement of layers before a residual Add (--gate-residual)', () => {
  const shapes: Record<string, number[]> = { h: [1, 4, 2, 2], h0: [1, 4, 2, 2], sc: [1, 4, 2, 2], b: [1, 4, 1, 1], sum: [1, 4, 2, 2] };
  const place = (g: Graph, valueShape: (n: string) => number[] | undefined = (n) => shapes[n], gateResidual = true) =>
    placeLayers(g, { include: new Set(), exclude: new Set(), gateDepthwise: false, gateResidual, valueShape });
  const byName = (g: Graph, placed: ReturnType<typeof placeLayers>, name: string) => placed.get(g.nodes.find((n) => n.name === name)!)!;

  it('gates a conv whose output plus the block input feeds a Relu, on the sum, with the block input as offset', () => {
    const g = graph((x) => [node('Add', [x, 'h0'], 'sum'), node('Relu', ['sum'], 'a')]);
    const p = byName(g, place(g), 'h');
    expect(p).toMatchObject({ role: 'gate', residual: { add: 'sum', offset: 'h0' } });
    expect(p.reason).toMatch(/output \+ Add\('sum'\) feeds Relu: gated on the sum/);
    // without the flag (residual gating off): quantized
    expect(
      byName(
        g,
        place(g, (n) => shapes[n], false),
        'h',
      ),
    ).toMatchObject({ role: 'quantize', reason: expect.stringMatching(/residual Add/) });
  });

  it('of two convs into one Add, gates the one with more MACs, offset by the other, which stays static', () => {
    // 'h' is 1x1 over 4 channels (4 MACs per output); the shortcut 'sc' a 3x3 over 4 channels (36): 'sc' is gated.
    const g = graph((x) => [node('Conv', ['h0', 'w3'], 'sc'), node('Add', [x, 'sc'], 'sum'), node('Relu', ['sum'], 'a')]);
    g.initializers.set('w3', constTensor('w3', 'float32', [4, 4, 3, 3], new Float32Array(144)));
    const placed = place(g);
    expect(byName(g, placed, 'sc')).toMatchObject({ role: 'gate', residual: { offset: 'h' } });
    expect(byName(g, placed, 'h')).toMatchObject({ role: 'quantize', reason: expect.stringMatching(/with 'sc' \(more MACs\), which is gated on the sum/) });
  });

  it('keeps the static treatment, saying why, where it cannot follow the Add', () => {
    const why = (body: (x: string) => Node[], valueShape?: (n: string) => number[] | undefined, extra?: (g: Graph) => void) => {
      const g = graph(body);
      extra?.(g);
      const p = byName(g, place(g, valueShape), 'h');
      expect(p.role).toBe('quantize');
      return p.reason;
    };
    // broadcasting: the other operand is [1, 4, 1, 1]
    expect(why((x) => [node('GlobalAveragePool', ['h0'], 'b'), node('Add', [x, 'b'], 'sum'), node('Relu', ['sum'], 'a')])).toMatch(
      /shapes differ \(\[1, 4, 2, 2\] and \[1, 4, 1, 1\]\)/,
    );
    // shapes unknown
    expect(
      why(
        (x) => [node('Add', [x, 'h0'], 'sum'), node('Relu', ['sum'], 'a')],
        () => undefined,
      ),
    ).toMatch(/shapes are not known/);
    // a constant operand (a bias)
    expect(
      why(
        (x) => [node('Add', [x, 'c'], 'sum'), node('Relu', ['sum'], 'a')],
        undefined,
        (g) => g.initializers.set('c', constTensor('c', 'float32', [1, 4, 2, 2], new Float32Array(16))),
      ),
    ).toMatch(/constant/);
    // the sum feeds something other than an activation
    expect(why((x) => [node('Add', [x, 'h0'], 'sum'), node('Sigmoid', ['sum'], 'a')])).toMatch(/sum feeds Sigmoid, not a ReLU/);
    // the sum feeds the next layer directly (MobileNetV2's residual after a linear bottleneck's projection)
    expect(why((x) => [node('Add', [x, 'h0'], 'a')])).toMatch(/sum feeds Conv, no activation after it \(a linear bottleneck's projection\)/);
    // a Sum of three operands
    expect(why((x) => [node('Sum', [x, 'h0', 'h0'], 'sum'), node('Relu', ['sum'], 'a')])).toMatch(/a Sum of 3 operands/);
  });
});

describe('placement of depthwise convolutions', () => {
  // stem conv → depthwise 3x3 'h' (group 4, weight [4, 1, 3, 3]) → `after` → 1x1 conv 'p' → Relu → conv 'y'
  const model = (after: (x: string) => Node[]): Graph => {
    const g = graph((x) => [...after(x), node('Conv', ['d', 'w3'], 'p'), node('Relu', ['p'], 'a')]);
    g.nodes[1] = node('Conv', ['h0', 'wd'], 'h', { group: { type: 'int', value: 4 } });
    g.initializers.set('wd', constTensor('wd', 'float32', [4, 1, 3, 3], new Float32Array(36).fill(0.1)));
    g.initializers.set('w3', w('w3'));
    return g;
  };
  const reluAfter = (x: string) => [node('Relu', [x], 'd')];
  const place = (g: Graph, gateDepthwise: boolean) => new Map([...placeLayers(g, { include: new Set(), exclude: new Set(), gateDepthwise })].map(([n, p]) => [n.name, p]));

  it('a depthwise conv before a ReLU-like activation: quantized without --gate-depthwise, gated with it', () => {
    const g = model(reluAfter);
    expect(place(g, false).get('h')).toEqual({ role: 'quantize', reason: 'depthwise conv: output feeds Relu, quantized statically (gate it with --gate-depthwise)' });
    expect(place(g, true).get('h')).toEqual({ role: 'gate', reason: 'output feeds Relu: gated' });
  });

  it('a depthwise conv with no activation after it (ShuffleNetV2) stays static either way, and says so', () => {
    const g = model((x) => [node('Identity', [x], 'd')]);
    for (const flag of [false, true]) {
      const p = place(g, flag).get('h')!;
      expect(p.role).toBe('quantize');
      expect(p.reason).toBe('depthwise conv: output feeds Conv, no activation after it: quantized statically, not gated');
    }
  });

  it("a linear bottleneck's projection (a 1x1 conv whose output feeds the next layers with no activation) stays static, saying so", () => {
    // 'p' → 'q' (Conv) and the Add with it: no activation after 'p'
    const g = model(reluAfter);
    g.nodes.splice(g.nodes.length - 2, 2, node('Conv', ['d', 'w3'], 'p'), node('Conv', ['p', 'w4'], 'q'), node('Add', ['p', 'q'], 'a'));
    g.initializers.set('w4', w('w4'));
    expect(place(g, true).get('p')).toEqual({
      role: 'quantize',
      reason: "output feeds 2 ops, no activation after it (a linear layer, as a linear bottleneck's projection): quantized statically, not gated",
    });
  });
});
