import type { AttributeValue, FunctionDef, Graph, Node, ValueInfo } from '../graph/index.js';
import { constTensor } from '../graph/index.js';
import { UnsupportedModelError } from '../errors/index.js';
import { attrFloat, attrInt, attrString, attrStrings } from '../interpreter/attributes.js';
import { Body, makeFunction, weightQuant } from './functions.js';
import { PG_RECURRENT_FORMS, RECURRENT_GATE_RULE_ATTR, pgRecurrentOp, type GatedRecurrentOp } from './format.js';
import { DEFAULT_RECURRENT_GATE_RULE, isRecurrentGateRule, type RecurrentGateRule } from './recurrent-gate.js';

// PGLSTM/QLSTM and PGGRU/QGRU as ONNX functions (docs/gated-format.md, "PGLSTM / QLSTM", "PGGRU / QGRU"): per
// direction, the input products of every step at once (x quantized with ActScale and split into high and low bits),
// then a Scan over the steps whose body quantizes h_{t−1} (GRU's hidden gate: r ⊙ h_{t−1}), adds its products, takes
// the gate decisions and runs ONNX's LSTM or GRU cell. The op order is the kernel's (recurrent-gate.ts,
// recurrent-cells.ts), so every elementwise step rounds as pg's does; the matrix products are float sums whose
// order each runtime chooses.

/** The first default-domain opset the bodies are written at (Clip's bounds, Split's and Unsqueeze's inputs). */
export const MIN_RECURRENT_FUNCTION_OPSET = 13;

/** What a body is written for: a function is one body for all its callers, so a model's nodes of one op share it. */
export interface RecurrentForm {
  op: GatedRecurrentOp;
  gated: boolean;
  rule: RecurrentGateRule;
  directions: ('forward' | 'reverse')[];
  layout: 0 | 1;
  clip: boolean;
  inputForget: boolean;
  linearBeforeReset: boolean;
  /** Which optional inputs the node has: B, sequence_lens, initial_h, and an LSTM's initial_c, P. */
  present: { b: boolean; lengths: boolean; h0: boolean; c0: boolean; p: boolean };
}

/** The form a PGLSTM/QLSTM or PGGRU/QGRU node needs. */
export function recurrentFormOf(node: Node): RecurrentForm {
  const op = pgRecurrentOp(node) ?? 'LSTM';
  const direction = attrString(node, 'direction', 'forward');
  const has = (i: number) => i < PG_RECURRENT_FORMS[op].inputs && (node.inputs[i] ?? '') !== '';
  const rule = attrString(node, RECURRENT_GATE_RULE_ATTR, DEFAULT_RECURRENT_GATE_RULE);
  return {
    op,
    gated: node.opType === PG_RECURRENT_FORMS[op].gated,
    rule: isRecurrentGateRule(rule) ? rule : DEFAULT_RECURRENT_GATE_RULE,
    directions: direction === 'bidirectional' ? ['forward', 'reverse'] : direction === 'reverse' ? ['reverse'] : ['forward'],
    layout: attrInt(node, 'layout', 0) === 1 ? 1 : 0,
    clip: attrFloat(node, 'clip') !== undefined,
    inputForget: op === 'LSTM' && attrInt(node, 'input_forget', 0) !== 0,
    linearBeforeReset: op === 'GRU' && attrInt(node, 'linear_before_reset', 0) !== 0,
    present: { b: has(3), lengths: has(4), h0: has(5), c0: op === 'LSTM' && has(6), p: op === 'LSTM' && has(7) },
  };
}

/** What differs between two forms, in words (empty when they are the same). */
function formDifference(a: RecurrentForm, b: RecurrentForm): string {
  const diffs: string[] = [];
  if (a.gated && a.rule !== b.rule) diffs.push(`gate_rule '${a.rule}' against '${b.rule}'`);
  if (a.directions.join() !== b.directions.join()) diffs.push(`direction ${a.directions.join('+')} against ${b.directions.join('+')}`);
  if (a.layout !== b.layout) diffs.push(`layout ${a.layout} against ${b.layout}`);
  if (a.clip !== b.clip) diffs.push(`clip ${a.clip ? 'set' : 'unset'} against ${b.clip ? 'set' : 'unset'}`);
  if (a.inputForget !== b.inputForget) diffs.push('input_forget');
  if (a.linearBeforeReset !== b.linearBeforeReset) diffs.push('linear_before_reset');
  for (const k of Object.keys(a.present) as (keyof RecurrentForm['present'])[]) {
    if (a.present[k] !== b.present[k]) diffs.push(`optional input ${k} ${a.present[k] ? 'present' : 'absent'} against ${b.present[k] ? 'present' : 'absent'}`);
  }
  return diffs.join(', ');
}

const DEFAULT_ACTIVATIONS: Record<GatedRecurrentOp, string[]> = { LSTM: ['Sigmoid', 'Tanh', 'Tanh'], GRU: ['Sigmoid', 'Tanh'] };

/** The one form of `op`'s nodes, or a clear refusal naming two nodes that need different bodies. */
function sharedForm(nodes: Node[], op: string, where: string): RecurrentForm | undefined {
  const mine = nodes.filter((n) => n.opType === op);
  if (mine.length === 0) return undefined;
  for (const n of mine) {
    const activations = attrStrings(n, 'activations');
    const form = recurrentFormOf(n);
    const expected = form.directions.flatMap(() => DEFAULT_ACTIVATIONS[form.op]);
    if (activations && activations.join() !== expected.join()) {
      throw new UnsupportedModelError(
        `${where}: ${op} node '${n.name}' has activations [${activations.join(', ')}]: pg runs and writes only ONNX's default ones, [${expected.join(', ')}]`,
        {
          action: `keep the ${form.op} float: convert the float model again with --exclude ${n.name}`,
        },
      );
    }
  }
  const form = recurrentFormOf(mine[0]);
  for (const n of mine.slice(1)) {
    const diff = formDifference(form, recurrentFormOf(n));
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
 * The recurrent functions the model's PGLSTM/QLSTM and PGGRU/QGRU nodes need, at the model's default-domain opset;
 * none below MIN_RECURRENT_FUNCTION_OPSET (pg still runs the nodes; `pg export --format onnx` writes at 13 or later).
 */
export function recurrentFunctions(nodes: Node[], opset: number, where: string): FunctionDef[] {
  if (opset < MIN_RECURRENT_FUNCTION_OPSET) return [];
  return Object.values(PG_RECURRENT_FORMS)
    .flatMap((f) => [sharedForm(nodes, f.gated, where), sharedForm(nodes, f.quantized, where)])
    .filter((f): f is RecurrentForm => f !== undefined)
    .map((f) => recurrentFunction(f, opset));
}

const RECURRENT_ATTRS: Record<GatedRecurrentOp, string[]> = {
  LSTM: ['activation_alpha', 'activation_beta', 'activations', 'clip', 'direction', 'hidden_size', 'input_forget', 'layout'],
  GRU: ['activation_alpha', 'activation_beta', 'activations', 'clip', 'direction', 'hidden_size', 'layout', 'linear_before_reset'],
};
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

/**
 * The step body's inputs, named without their `in_` prefix: the state (h, and an LSTM's c) and the loop-carried
 * constants (weights, levels, thresholds, clip, GRU's Rb_h, LSTM's peepholes), then the scan inputs. A GRU's gate
 * rows come in two blocks, z and r together (`zr`) and the hidden gate (`h`), as the cell decides them.
 */
function stepInputs(form: RecurrentForm): { states: string[]; carried: number; scans: string[] } {
  const lstm = form.op === 'LSTM';
  const blocks = lstm ? [''] : ['zr', 'h'];
  const states = [
    'h',
    ...(lstm ? ['c'] : []),
    ...blocks.map((k) => `rt${k}`),
    'n',
    'unit',
    ...(form.gated ? ['step', ...blocks.map((k) => `delta${k}`)] : []),
    ...(form.clip ? ['clip'] : []),
    ...(form.linearBeforeReset && form.present.b ? ['rbh'] : []),
    ...(form.present.p ? ['pi', 'po', 'pf'] : []),
  ];
  const scans = [...blocks.map((k) => `xhb${k}`), ...(form.gated ? blocks.map((k) => `xlb${k}`) : []), ...(form.present.lengths ? ['mask'] : [])];
  return { states, carried: lstm ? 2 : 1, scans };
}

/**
 * One time step: graph inputs (stepInputs: state and constants, then the scan inputs), outputs (state and constants,
 * then y_t and the gate M_t [N, G·H]). Every value the step reads comes in as an input: a subgraph that names
 * nothing of the enclosing body stays valid wherever the body is inlined.
 */
function stepGraph(form: RecurrentForm, opset: number): Graph {
  const b = new Body('s');
  const { states, carried, scans } = stepInputs(form);
  const inputs: ValueInfo[] = [...states, ...scans].map((s) => ({ name: `in_${s}`, dtype: s === 'mask' ? 'bool' : 'float32' }));
  const one = b.float(1);
  const minus1 = b.float(-1);
  const gates: string[] = [];
  // A block of gate rows' pre-activations: z_hb from the high bits of x and of the recurrent operand v, and where the
  // gate passes, z_lb; under a reset gate r (GRU, linear_before_reset) the recurrent part is r ⊙ (v R + bias).
  const preactivation = (block: string, v: string, reset?: { r: string; bias?: string }) => {
    const [hb, lb] = split(b, codes(b, v, 'in_n', minus1, one), 'in_unit', form.gated ? 'in_step' : undefined);
    const under = (p: string, bias?: string) => (reset ? b.op('Mul', [reset.r, bias ? b.op('Add', [p, bias]) : p]) : p);
    const zhb = b.op('Add', [`in_xhb${block}`, under(b.op('MatMul', [hb, `in_rt${block}`]), reset?.bias)]);
    if (!form.gated) return zhb;
    const zlb = b.op('Add', [`in_xlb${block}`, under(b.op('MatMul', [lb!, `in_rt${block}`]))]);
    const abs = form.rule === 'above' ? zhb : b.op('Abs', [zhb]);
    const g = form.rule === 'knee' ? b.op('Neg', [abs]) : abs;
    const gate = b.op('Cast', [b.op('Greater', [g, `in_delta${block}`])], FLOAT);
    gates.push(gate);
    return b.op('Add', [zhb, b.op('Mul', [gate, zlb])]);
  };
  const clipped = (v: string) => (form.clip ? b.op('Clip', [v, b.op('Neg', ['in_clip']), 'in_clip']) : v);
  const next = form.op === 'LSTM' ? lstmCell(b, form, opset, preactivation('', 'in_h'), clipped, one) : gruCell(b, form, opset, preactivation, clipped, one);
  let { h, c } = next;
  let y = h;
  if (form.present.lengths) {
    // Past its length a sequence keeps its state and outputs zeros.
    y = b.op('Mul', [h, b.op('Cast', ['in_mask'], FLOAT)]);
    h = b.op('Where', ['in_mask', h, 'in_h']);
    c = c && b.op('Where', ['in_mask', c, 'in_c']);
  }
  const outputs: ValueInfo[] = [];
  const out = (name: string, v: string) => {
    b.op('Identity', [v], {}, name);
    outputs.push({ name, dtype: 'float32' });
  };
  out('out_h', h);
  if (c) out('out_c', c);
  for (const s of states.slice(carried)) out(`out_${s}`, `in_${s}`);
  out('out_y', y);
  if (gates.length) out('out_gate', gates.length === 1 ? gates[0] : b.op('Concat', gates, { axis: { type: 'int', value: 1 } }));
  // Its own names: a subgraph's values may not repeat a name of the graph it is inlined into.
  const prefix = `pg_${form.op.toLowerCase()}_step/`;
  const name = (v: string) => (v === '' ? v : `${prefix}${v}`);
  const nodes = b.nodes.map((n) => ({ ...n, name: name(n.name), inputs: n.inputs.map(name), outputs: n.outputs.map(name) }));
  const named = (vs: ValueInfo[]) => vs.map((v) => ({ ...v, name: name(v.name) }));
  return { name: `${form.op.toLowerCase()}_step`, nodes, initializers: new Map(), inputs: named(inputs), outputs: named(outputs), valueInfo: new Map() };
}

/** ONNX's LSTM cell on the pre-activations z (recurrent-cells.ts, op for op): gate order i, o, f, c. */
function lstmCell(b: Body, form: RecurrentForm, opset: number, z: string, clipped: (v: string) => string, one: string): { h: string; c: string } {
  const peephole = (v: string, k: number, c: string) => (form.present.p ? b.op('Add', [v, b.op('Mul', [['in_pi', 'in_po', 'in_pf'][k], c])]) : v);
  const [iz, oz, fz, cz] = equalSplit(b, z, 4, 1, opset);
  const i = b.op('Sigmoid', [clipped(peephole(iz, 0, 'in_c'))]);
  const f = form.inputForget ? b.op('Sub', [one, i]) : b.op('Sigmoid', [clipped(peephole(fz, 2, 'in_c'))]);
  const c = b.op('Add', [b.op('Mul', [f, 'in_c']), b.op('Mul', [i, b.op('Tanh', [clipped(cz)])])]);
  const o = b.op('Sigmoid', [clipped(peephole(oz, 1, c))]);
  return { h: b.op('Mul', [o, b.op('Tanh', [c])]), c };
}

/**
 * ONNX's GRU cell (recurrent-cells.ts, op for op): z and r from their pre-activations, then the hidden gate's, whose
 * recurrent operand is r ⊙ h_{t−1} (linear_before_reset: its product is taken under r); H = (1 − z) ⊙ h̃ + z ⊙ H_{t−1}.
 */
function gruCell(
  b: Body,
  form: RecurrentForm,
  opset: number,
  preactivation: (block: string, v: string, reset?: { r: string; bias?: string }) => string,
  clipped: (v: string) => string,
  one: string,
): { h: string; c?: string } {
  const [z, r] = equalSplit(b, b.op('Sigmoid', [clipped(preactivation('zr', 'in_h'))]), 2, 1, opset);
  const hz = form.linearBeforeReset ? preactivation('h', 'in_h', { r, bias: form.present.b ? 'in_rbh' : undefined }) : preactivation('h', b.op('Mul', [r, 'in_h']));
  const hh = b.op('Tanh', [clipped(hz)]);
  return { h: b.op('Add', [b.op('Mul', [b.op('Sub', [one, z]), hh]), b.op('Mul', [z, 'in_h'])]) };
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

function sequenceOperands(b: Body, form: RecurrentForm): SequenceOperands {
  const two = b.float(2);
  const one = b.float(1);
  const n = b.op('Sub', [b.op('Pow', [two, b.attrAsFloat('bits')]), one]);
  const step = form.gated ? b.op('Pow', [two, b.op('Sub', [b.attrAsFloat('bits'), b.attrAsFloat('hbits')])]) : undefined;
  const batchMajor = (v: string) => (form.layout === 1 ? b.op('Transpose', [v], { perm: { type: 'ints', value: [1, 0, 2] } }) : v);
  const x = batchMajor('X');
  const [xhb, xlb] = split(b, codes(b, x, n, b.float(-1), one, 'ActScale'), b.op('Div', ['ActScale', n]), step);
  // [N, H] zeros for an absent initial state: N from X [T, N, F], H from R [D, G·H, H].
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
function directionScan(b: Body, form: RecurrentForm, opset: number, s: SequenceOperands, d: number): { y: string; h: string; c?: string } {
  const graph = stepGraph(form, opset);
  const { states, carried, scans } = stepInputs(form);
  const wt = b.op('Transpose', [weightQuant(b, direction(b, 'W', d), s.two, s.one, opset)]);
  const v: Record<string, string | undefined> = {};
  let xp = b.op('MatMul', [s.xhb, wt]);
  if (form.present.b) {
    const [wb, rb] = equalSplit(b, direction(b, 'B', d), 2, 0, opset);
    if (form.linearBeforeReset) {
      // Rb_h is added under the reset gate, inside the step; with the input products, zeros in its place.
      const [rz, rr, rh] = equalSplit(b, rb, 3, 0, opset);
      v.rbh = rh;
      xp = b.op('Add', [xp, b.op('Add', [wb, b.op('Concat', [rz, rr, b.op('ConstantOfShape', [b.op('Shape', [rh])])], { axis: { type: 'int', value: 0 } })])]);
    } else {
      xp = b.op('Add', [xp, b.op('Add', [wb, rb])]);
    }
  }
  const lanes = {
    rt: [b.op('Transpose', [weightQuant(b, direction(b, 'R', d), s.two, s.one, opset)]), 1],
    delta: [form.gated ? direction(b, 'Threshold', d) : undefined, 0],
    xhb: [xp, 2],
    xlb: [s.xlb ? b.op('MatMul', [s.xlb, wt]) : undefined, 2],
  } as const;
  for (const [k, [value, axis]] of Object.entries(lanes)) {
    if (value === undefined) continue;
    if (form.op === 'LSTM') {
      v[k] = value;
      continue;
    }
    // A GRU's gate rows z, r, h (on their last axis) in the cell's blocks: z and r together, then h.
    const [z, r, h] = equalSplit(b, value, 3, axis, opset);
    v[`${k}zr`] = b.op('Concat', [z, r], { axis: { type: 'int', value: axis } });
    v[`${k}h`] = h;
  }
  const [pi, po, pf] = form.present.p ? equalSplit(b, direction(b, 'P', d), 3, 0, opset) : [];
  Object.assign(v, {
    h: s.h0 ? direction(b, s.h0, d) : s.zeros(),
    c: form.op === 'LSTM' ? (s.c0 ? direction(b, s.c0, d) : s.zeros()) : undefined,
    n: s.n,
    unit: s.stepUnit,
    step: s.step,
    clip: s.clip,
    mask: s.mask,
    ...{ pi, po, pf },
  });
  const stateIn = states.map((k) => v[k]!);
  const scanIn = scans.map((k) => v[k]!);
  const reverse = form.directions[d] === 'reverse' ? 1 : 0;
  const outs = b.ops('Scan', [...stateIn, ...scanIn], graph.outputs.length, {
    body: { type: 'graph', value: graph },
    num_scan_inputs: { type: 'int', value: scanIn.length },
    scan_input_directions: { type: 'ints', value: scanIn.map(() => reverse) },
    scan_output_directions: { type: 'ints', value: graph.outputs.slice(stateIn.length).map(() => reverse) },
  });
  // A sequence of length 0 ends with zero states, not its initial ones.
  const lengths = s.lengths;
  const ran = (o: string) => (lengths ? b.op('Mul', [o, b.op('Cast', [b.op('Greater', [b.op('Unsqueeze', [lengths, int64s(b, [1])]), int64(b, 0)])], FLOAT)]) : o);
  return { y: outs[stateIn.length], h: ran(outs[0]), c: carried > 1 ? ran(outs[1]) : undefined };
}

function recurrentFunction(form: RecurrentForm, opset: number): FunctionDef {
  const b = new Body();
  const s = sequenceOperands(b, form);
  const perDirection = form.directions.map((_, d) => directionScan(b, form, opset, s, d));
  // Y [T, D, N, H] (layout 1: [N, T, D, H]); Y_h (Y_c) [D, N, H] (layout 1: [N, D, H]).
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
  const lstm = form.op === 'LSTM';
  const finals = lstm
    ? ([
        ['h', 'Y_h'],
        ['c', 'Y_c'],
      ] as const)
    : ([['h', 'Y_h']] as const);
  for (const [k, out] of finals) {
    b.op(
      'Identity',
      [
        stacked(
          perDirection.map((p) => p[k]!),
          stateAxis,
        ),
      ],
      {},
      out,
    );
  }
  const own = lstm ? ['X', 'W', 'R', 'B', 'sequence_lens', 'initial_h', 'initial_c', 'P'] : ['X', 'W', 'R', 'B', 'sequence_lens', 'initial_h'];
  const inputs = [...own, ...(form.gated ? ['Threshold'] : []), 'ActScale'];
  const attributes = ['bits', 'wbits', ...(form.gated ? ['hbits', RECURRENT_GATE_RULE_ATTR] : []), ...RECURRENT_ATTRS[form.op]];
  const forms = PG_RECURRENT_FORMS[form.op];
  const doc = form.gated
    ? `Precision-gated ${form.op} (gate rule '${form.rule}'): per step z_hb = x_hb Wq^T + h_hb Rq^T + b, M = 1[g(z_hb) > Threshold], z = z_hb + M (x_lb Wq^T + h_lb Rq^T)${lstm ? '' : " (the hidden gate's recurrent operand r ⊙ h, or with linear_before_reset its product under r)"}, then ONNX's ${form.op} cell on z (a Scan over the steps per direction).`
    : `${form.op} on x and h quantized to 'bits' and weights to 'wbits' (static precision, not gated; a Scan over the steps per direction).`;
  return { ...makeFunction(form.gated ? forms.gated : forms.quantized, inputs, attributes, b, opset, doc), outputs: ['Y', ...finals.map(([, out]) => out)] };
}
