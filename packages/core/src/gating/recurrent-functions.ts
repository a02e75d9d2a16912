import type { AttributeValue, FunctionDef, Graph, Node, ValueInfo } from '../graph/index.js';
import { constTensor } from '../graph/index.js';
import { UnsupportedModelError } from '../errors/index.js';
import { attrFloat, attrInt, attrString, attrStrings } from '../interpreter/attributes.js';
import { Body, makeFunction, weightQuant } from './functions.js';
import { PG_LSTM, Q_LSTM, RECURRENT_GATE_RULE_ATTR } from './format.js';
import { DEFAULT_RECURRENT_GATE_RULE, isRecurrentGateRule, type RecurrentGateRule } from './recurrent-gate.js';

// PGLSTM and QLSTM as ONNX functions (docs/gated-format.md, "PGLSTM / QLSTM"): per direction, the input products
// of every step at once (x quantized with ActScale and split into high and low bits), then a Scan over the steps
// whose body quantizes h_{t−1}, adds its products, takes the gate decisions and runs ONNX's LSTM cell. The op
// order is the kernel's (recurrent-gate.ts, recurrent-cells.ts), so every elementwise step rounds as pg's does;
// the matrix products are float sums whose order each runtime chooses.

/** The first default-domain opset the bodies are written at (Clip's bounds, Split's and Unsqueeze's inputs). */
export const MIN_RECURRENT_FUNCTION_OPSET = 13;

/** What a body is written for: a function is one body for all its callers, so a model's nodes of one op share it. */
export interface LstmForm {
  gated: boolean;
  rule: RecurrentGateRule;
  directions: ('forward' | 'reverse')[];
  layout: 0 | 1;
  clip: boolean;
  inputForget: boolean;
  /** Which optional inputs the node has: B, sequence_lens, initial_h, initial_c, P. */
  present: { b: boolean; lengths: boolean; h0: boolean; c0: boolean; p: boolean };
}

/** The form a PGLSTM/QLSTM node needs. */
export function lstmFormOf(node: Node): LstmForm {
  const direction = attrString(node, 'direction', 'forward');
  const has = (i: number) => (node.inputs[i] ?? '') !== '';
  const rule = attrString(node, RECURRENT_GATE_RULE_ATTR, DEFAULT_RECURRENT_GATE_RULE);
  return {
    gated: node.opType === PG_LSTM,
    rule: isRecurrentGateRule(rule) ? rule : DEFAULT_RECURRENT_GATE_RULE,
    directions: direction === 'bidirectional' ? ['forward', 'reverse'] : direction === 'reverse' ? ['reverse'] : ['forward'],
    layout: attrInt(node, 'layout', 0) === 1 ? 1 : 0,
    clip: attrFloat(node, 'clip') !== undefined,
    inputForget: attrInt(node, 'input_forget', 0) !== 0,
    present: { b: has(3), lengths: has(4), h0: has(5), c0: has(6), p: has(7) },
  };
}

/** What differs between two forms, in words (empty when they are the same). */
function formDifference(a: LstmForm, b: LstmForm): string {
  const diffs: string[] = [];
  if (a.gated && a.rule !== b.rule) diffs.push(`gate_rule '${a.rule}' against '${b.rule}'`);
  if (a.directions.join() !== b.directions.join()) diffs.push(`direction ${a.directions.join('+')} against ${b.directions.join('+')}`);
  if (a.layout !== b.layout) diffs.push(`layout ${a.layout} against ${b.layout}`);
  if (a.clip !== b.clip) diffs.push(`clip ${a.clip ? 'set' : 'unset'} against ${b.clip ? 'set' : 'unset'}`);
  if (a.inputForget !== b.inputForget) diffs.push('input_forget');
  for (const k of Object.keys(a.present) as (keyof LstmForm['present'])[]) {
    if (a.present[k] !== b.present[k]) diffs.push(`optional input ${k} ${a.present[k] ? 'present' : 'absent'} against ${b.present[k] ? 'present' : 'absent'}`);
  }
  return diffs.join(', ');
}

const DEFAULT_ACTIVATIONS = ['Sigmoid', 'Tanh', 'Tanh'];

/** The one form of `op`'s nodes, or a clear refusal naming two nodes that need different bodies. */
function sharedForm(nodes: Node[], op: string, where: string): LstmForm | undefined {
  const mine = nodes.filter((n) => n.opType === op);
  if (mine.length === 0) return undefined;
  for (const n of mine) {
    const activations = attrStrings(n, 'activations');
    const expected = lstmFormOf(n).directions.flatMap(() => DEFAULT_ACTIVATIONS);
    if (activations && activations.join() !== expected.join()) {
      throw new UnsupportedModelError(
        `${where}: ${op} node '${n.name}' has activations [${activations.join(', ')}]: pg runs and writes only ONNX's default ones, [${expected.join(', ')}]`,
        {
          action: `keep the LSTM float: convert the float model again with --exclude ${n.name}`,
        },
      );
    }
  }
  const form = lstmFormOf(mine[0]);
  for (const n of mine.slice(1)) {
    const diff = formDifference(form, lstmFormOf(n));
    if (diff) {
      throw new UnsupportedModelError(
        `${where}: ${op} nodes '${mine[0].name}' and '${n.name}' need different ONNX function bodies (${diff}); a function is one body for all its nodes`,
        {
          action: `convert the float model again with one --recurrent-rule, or keep one of them float with --exclude ${n.name}`,
        },
      );
    }
  }
  return form;
}

/**
 * The recurrent functions the model's PGLSTM/QLSTM nodes need, at the model's default-domain opset; none below
 * MIN_RECURRENT_FUNCTION_OPSET (pg still runs the nodes; `pg export --format onnx` writes at 13 or later).
 */
export function recurrentFunctions(nodes: Node[], opset: number, where: string): FunctionDef[] {
  if (opset < MIN_RECURRENT_FUNCTION_OPSET) return [];
  return [sharedForm(nodes, PG_LSTM, where), sharedForm(nodes, Q_LSTM, where)].filter((f): f is LstmForm => f !== undefined).map((f) => lstmFunction(f, opset));
}

const LSTM_ATTRS = ['activation_alpha', 'activation_beta', 'activations', 'clip', 'direction', 'hidden_size', 'input_forget', 'layout'];
const int64s = (b: Body, v: number[]) => b.op('Constant', [], { value: { type: 'tensor', value: constTensor('', 'int64', [v.length], BigInt64Array.from(v, BigInt)) } });
const int64 = (b: Body, v: number) => b.op('Constant', [], { value: { type: 'tensor', value: constTensor('', 'int64', [], new BigInt64Array([BigInt(v)])) } });
const FLOAT = { to: { type: 'int', value: 1 } } as const satisfies Record<string, AttributeValue>;

/** Truncation toward zero, sign(v)·floor(|v|) (the kernel's floor(relu(v)) − floor(relu(−v)): the same integers). */
const trunc = (b: Body, v: string) => b.op('Mul', [b.op('Sign', [v]), b.op('Floor', [b.op('Abs', [v])])]);

/** Codes q_s = round(clip(v/s, −1, 1)·n) (`s` omitted: the scale 1, v/1 = v). */
const codes = (b: Body, v: string, n: string, minus1: string, one: string, s?: string) =>
  b.op('Round', [b.op('Mul', [b.op('Clip', [s ? b.op('Div', [v, s]) : v, minus1, one]), n])]);

/** [high, low] parts of codes q in value units, (trunc(q/step)·step·unit, q·unit − that); QLSTM: [q·unit]. */
function split(b: Body, q: string, unit: string, step: string | undefined): [string, string?] {
  if (!step) return [b.op('Mul', [q, unit])];
  const hb = b.op('Mul', [b.op('Mul', [trunc(b, b.op('Div', [q, step])), step]), unit]);
  return [hb, b.op('Sub', [b.op('Mul', [q, unit]), hb])];
}

/** Split into `parts` equal pieces on `axis` (opset 18 wants num_outputs; before, equal parts are the default). */
function equalSplit(b: Body, v: string, parts: number, axis: number, opset: number): string[] {
  return b.ops('Split', [v], parts, { axis: { type: 'int', value: axis }, ...(opset >= 18 ? { num_outputs: { type: 'int', value: parts } } : {}) });
}

/** The values the step body reads, in the order of the Scan's state variables (the loop-carried constants last). */
interface StepState {
  h: string;
  c: string;
  rt: string;
  n: string;
  unit: string;
  step?: string;
  delta?: string;
  clip?: string;
  peep?: [string, string, string];
}

/**
 * One time step: graph inputs (state, then the scan inputs xhb_t, xlb_t, mask_t), outputs (state, then y_t and the
 * gate M_t). Every value the step reads comes in as an input (weights, levels, threshold as loop-carried state):
 * a subgraph that names nothing of the enclosing body stays valid wherever the body is inlined.
 */
function stepGraph(form: LstmForm, opset: number): { graph: Graph; states: (keyof StepState)[] } {
  const b = new Body('s');
  const states: (keyof StepState)[] = ['h', 'c', 'rt', 'n', 'unit', ...(form.gated ? (['step', 'delta'] as const) : []), ...(form.clip ? (['clip'] as const) : [])];
  const inputs: ValueInfo[] = states.map((s) => ({ name: `in_${s}`, dtype: 'float32' }));
  const peep = form.present.p ? (['pi', 'po', 'pf'] as const).map((p) => `in_${p}`) : [];
  for (const p of peep) inputs.push({ name: p, dtype: 'float32' });
  const scanIn = ['in_xhb', ...(form.gated ? ['in_xlb'] : []), ...(form.present.lengths ? ['in_mask'] : [])];
  for (const s of scanIn) inputs.push({ name: s, dtype: s === 'in_mask' ? 'bool' : 'float32' });
  const one = b.float(1);
  const minus1 = b.float(-1);
  const [hb, lb] = split(b, codes(b, 'in_h', 'in_n', minus1, one), 'in_unit', form.gated ? 'in_step' : undefined);
  const zhb = b.op('Add', ['in_xhb', b.op('MatMul', [hb, 'in_rt'])]);
  let z = zhb;
  let gate: string | undefined;
  if (form.gated) {
    const zlb = b.op('Add', ['in_xlb', b.op('MatMul', [lb!, 'in_rt'])]);
    const abs = form.rule === 'above' ? zhb : b.op('Abs', [zhb]);
    const g = form.rule === 'knee' ? b.op('Neg', [abs]) : abs;
    gate = b.op('Cast', [b.op('Greater', [g, 'in_delta'])], FLOAT);
    z = b.op('Add', [zhb, b.op('Mul', [gate, zlb])]);
  }
  const clipped = (v: string) => (form.clip ? b.op('Clip', [v, b.op('Neg', ['in_clip']), 'in_clip']) : v);
  const peephole = (v: string, k: number, c: string) => (peep.length ? b.op('Add', [v, b.op('Mul', [peep[k], c])]) : v);
  // Gate order i, o, f, c; the cell of recurrent-cells.ts, op for op.
  const [iz, oz, fz, cz] = equalSplit(b, z, 4, 1, opset);
  const i = b.op('Sigmoid', [clipped(peephole(iz, 0, 'in_c'))]);
  const f = form.inputForget ? b.op('Sub', [one, i]) : b.op('Sigmoid', [clipped(peephole(fz, 2, 'in_c'))]);
  let c = b.op('Add', [b.op('Mul', [f, 'in_c']), b.op('Mul', [i, b.op('Tanh', [clipped(cz)])])]);
  const o = b.op('Sigmoid', [clipped(peephole(oz, 1, c))]);
  let h = b.op('Mul', [o, b.op('Tanh', [c])]);
  let y = h;
  if (form.present.lengths) {
    // Past its length a sequence keeps its state and outputs zeros.
    y = b.op('Mul', [h, b.op('Cast', ['in_mask'], FLOAT)]);
    h = b.op('Where', ['in_mask', h, 'in_h']);
    c = b.op('Where', ['in_mask', c, 'in_c']);
  }
  const outputs: ValueInfo[] = [];
  const out = (name: string, v: string, dtype: 'float32' = 'float32') => {
    b.op('Identity', [v], {}, name);
    outputs.push({ name, dtype });
  };
  out('out_h', h);
  out('out_c', c);
  for (const s of states.slice(2)) out(`out_${s}`, `in_${s}`);
  for (const p of peep) out(p.replace('in_', 'out_'), p);
  out('out_y', y);
  if (gate) out('out_gate', gate);
  // Its own names: a subgraph's values may not repeat a name of the graph it is inlined into.
  const name = (v: string) => (v === '' ? v : `pg_lstm_step/${v}`);
  const nodes = b.nodes.map((n) => ({ ...n, name: name(n.name), inputs: n.inputs.map(name), outputs: n.outputs.map(name) }));
  const named = (vs: ValueInfo[]) => vs.map((v) => ({ ...v, name: name(v.name) }));
  return { graph: { name: 'lstm_step', nodes, initializers: new Map(), inputs: named(inputs), outputs: named(outputs), valueInfo: new Map() }, states };
}

/** The body's operands of direction d: its slice of a [D, ...] input. */
const direction = (b: Body, v: string, d: number) => b.op('Gather', [v, int64(b, d)], { axis: { type: 'int', value: 0 } });

/** What every direction's Scan reads: x's high and low parts, the levels, the sequence's shape, states and mask. */
interface SequenceOperands {
  two: string;
  one: string;
  n: string;
  step?: string;
  xhb: string;
  xlb?: string;
  stepUnit: string;
  clip?: string;
  zeros: () => string;
  h0?: string;
  c0?: string;
  lengths?: string;
  mask?: string;
}

function sequenceOperands(b: Body, form: LstmForm): SequenceOperands {
  const two = b.float(2);
  const one = b.float(1);
  const n = b.op('Sub', [b.op('Pow', [two, b.attrAsFloat('bits')]), one]);
  const step = form.gated ? b.op('Pow', [two, b.op('Sub', [b.attrAsFloat('bits'), b.attrAsFloat('hbits')])]) : undefined;
  const batchMajor = (v: string) => (form.layout === 1 ? b.op('Transpose', [v], { perm: { type: 'ints', value: [1, 0, 2] } }) : v);
  const x = batchMajor('X');
  const [xhb, xlb] = split(b, codes(b, x, n, b.float(-1), one, 'ActScale'), b.op('Div', ['ActScale', n]), step);
  // [N, H] zeros for an absent initial state: N from X [T, N, F], H from R [D, 4·H, H].
  const shape = b.op('Shape', [x]);
  const dim = (of: string, i: number) => b.op('Slice', [of, int64s(b, [i]), int64s(b, [i + 1])]);
  const zeros = () => b.op('ConstantOfShape', [b.op('Concat', [dim(shape, 1), dim(b.op('Shape', ['R']), 2)], { axis: { type: 'int', value: 0 } })]);
  const lengths = form.present.lengths ? b.op('Cast', ['sequence_lens'], { to: { type: 'int', value: 7 } }) : undefined;
  // Per step, which sequences are still running: [T, N, 1], t < sequence_lens[n].
  const unsqueeze = (v: string, axis: number) => b.op('Unsqueeze', [v, int64s(b, [axis])]);
  const steps = b.op('Range', [int64(b, 0), b.op('Gather', [shape, int64(b, 0)]), int64(b, 1)]);
  return {
    two,
    one,
    n,
    step,
    xhb,
    xlb,
    stepUnit: b.op('Div', [one, n]),
    clip: form.clip ? b.op('Constant', [], { value_float: { type: 'ref', refAttrName: 'clip', refType: 'float' } }) : undefined,
    zeros,
    h0: form.present.h0 ? batchMajor('initial_h') : undefined,
    c0: form.present.c0 ? batchMajor('initial_c') : undefined,
    lengths,
    mask: lengths ? unsqueeze(b.op('Less', [unsqueeze(steps, 1), unsqueeze(lengths, 0)]), 2) : undefined,
  };
}

/** Direction d's Scan: its outputs by time [T, N, H] and final states [N, H]. */
function directionScan(b: Body, form: LstmForm, opset: number, s: SequenceOperands, d: number): { y: string; h: string; c: string } {
  const { graph, states } = stepGraph(form, opset);
  const wt = b.op('Transpose', [weightQuant(b, direction(b, 'W', d), s.two, s.one, opset)]);
  let xp = b.op('MatMul', [s.xhb, wt]);
  if (form.present.b) {
    const [wb, rb] = equalSplit(b, direction(b, 'B', d), 2, 0, opset);
    xp = b.op('Add', [xp, b.op('Add', [wb, rb])]);
  }
  const state: StepState = {
    h: s.h0 ? direction(b, s.h0, d) : s.zeros(),
    c: s.c0 ? direction(b, s.c0, d) : s.zeros(),
    rt: b.op('Transpose', [weightQuant(b, direction(b, 'R', d), s.two, s.one, opset)]),
    n: s.n,
    unit: s.stepUnit,
    step: s.step,
    delta: form.gated ? direction(b, 'Threshold', d) : undefined,
    clip: s.clip,
    peep: form.present.p ? (equalSplit(b, direction(b, 'P', d), 3, 0, opset) as [string, string, string]) : undefined,
  };
  const scanIn = [xp, ...(s.xlb ? [b.op('MatMul', [s.xlb, wt])] : []), ...(s.mask ? [s.mask] : [])];
  const stateIn = [...states.map((k) => state[k] as string), ...(state.peep ?? [])];
  const reverse = form.directions[d] === 'reverse' ? 1 : 0;
  const outs = b.ops('Scan', [...stateIn, ...scanIn], graph.outputs.length, {
    body: { type: 'graph', value: graph },
    num_scan_inputs: { type: 'int', value: scanIn.length },
    scan_input_directions: { type: 'ints', value: scanIn.map(() => reverse) },
    scan_output_directions: { type: 'ints', value: graph.outputs.slice(stateIn.length).map(() => reverse) },
  });
  // A sequence of length 0 ends with zero states, not its initial ones.
  const lengths = s.lengths;
  const ran = (v: string) => (lengths ? b.op('Mul', [v, b.op('Cast', [b.op('Greater', [b.op('Unsqueeze', [lengths, int64s(b, [1])]), int64(b, 0)])], FLOAT)]) : v);
  return { y: outs[stateIn.length], h: ran(outs[0]), c: ran(outs[1]) };
}

function lstmFunction(form: LstmForm, opset: number): FunctionDef {
  const b = new Body();
  const s = sequenceOperands(b, form);
  const perDirection = form.directions.map((_, d) => directionScan(b, form, opset, s, d));
  // Y [T, D, N, H] (layout 1: [N, T, D, H]); Y_h, Y_c [D, N, H] (layout 1: [N, D, H]).
  const stacked = (vs: string[], axis: number) =>
    b.op(
      'Concat',
      vs.map((v) => b.op('Unsqueeze', [v, int64s(b, [axis])])),
      { axis: { type: 'int', value: axis } },
    );
  const y = stacked(
    perDirection.map((p) => p.y),
    1,
  );
  b.op('Identity', [form.layout === 1 ? b.op('Transpose', [y], { perm: { type: 'ints', value: [2, 0, 1, 3] } }) : y], {}, 'Y');
  const stateAxis = form.layout === 1 ? 1 : 0;
  for (const [k, out] of [
    ['h', 'Y_h'],
    ['c', 'Y_c'],
  ] as const) {
    b.op(
      'Identity',
      [
        stacked(
          perDirection.map((p) => p[k]),
          stateAxis,
        ),
      ],
      {},
      out,
    );
  }
  const inputs = ['X', 'W', 'R', 'B', 'sequence_lens', 'initial_h', 'initial_c', 'P', ...(form.gated ? ['Threshold'] : []), 'ActScale'];
  const attributes = ['bits', 'wbits', ...(form.gated ? ['hbits', RECURRENT_GATE_RULE_ATTR] : []), ...LSTM_ATTRS];
  const doc = form.gated
    ? `Precision-gated LSTM (gate rule '${form.rule}'): per step z_hb = x_hb Wq^T + h_hb Rq^T + b, M = 1[g(z_hb) > Threshold], z = z_hb + M (x_lb Wq^T + h_lb Rq^T), then ONNX's LSTM cell on z (a Scan over the steps per direction).`
    : "LSTM on x and h quantized to 'bits' and weights to 'wbits' (static precision, not gated; a Scan over the steps per direction).";
  return { ...makeFunction(form.gated ? PG_LSTM : Q_LSTM, inputs, attributes, b, opset, doc), outputs: ['Y', 'Y_h', 'Y_c'] };
}
