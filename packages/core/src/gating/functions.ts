import type { AttributeValue, FunctionDef, Node } from '../graph/index.js';
import { constTensor } from '../graph/index.js';
import { SCALE_FLOOR } from './quantizer.js';
import { INTEGER_ACCUMULATION_VERSION, PG_CONV, PG_CONV_RESIDUAL, PG_DOMAIN, PG_DOMAIN_VERSION, PG_GEMM, PG_GEMM_RESIDUAL, Q_CONV, Q_GEMM, RECOMPUTE_ATTR } from './format.js';

/**
 * The meaning of pg's ops as ONNX model-local functions of standard ops, so that ONNX Runtime (1.9+)
 * loads a gated model without knowing our domain. The op order mirrors pg's kernels (quantizer.ts,
 * kernels.ts), so both round the same way. Bit widths come from the calling node's attributes (ref_attr_name).
 */

const CONV_ATTRS = ['auto_pad', 'dilations', 'group', 'kernel_shape', 'pads', 'strides'];
/**
 * A Gemm's alpha and beta are honoured (Y = alpha·op(X)W + beta·C); transA is not an attribute of pg's
 * nodes: convert puts it into a Transpose in front, so that samples are X's rows (docs/gated-format.md).
 */
const GEMM_ATTRS = ['alpha', 'beta', 'transB'];
const ATTR_TYPES: Record<string, 'int' | 'ints' | 'float' | 'string'> = {
  auto_pad: 'string',
  group: 'int',
  transB: 'int',
  alpha: 'float',
  beta: 'float',
};

/** A function body under construction: nodes named t0, t1... in order. */
export class Body {
  readonly nodes: Node[] = [];
  private k = 0;
  /** `prefix` names the values (a subgraph's own prefix keeps its names apart from the enclosing body's). */
  constructor(private readonly prefix = 't') {}
  op(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, out?: string): string {
    const o = out ?? `${this.prefix}${this.k}`;
    this.nodes.push({ name: `${opType}_${this.k++}`, opType, domain: '', inputs, outputs: [o], attributes });
    return o;
  }
  /** An op with `count` outputs (Split, Scan), named like op's. */
  ops(opType: string, inputs: string[], count: number, attributes: Record<string, AttributeValue> = {}): string[] {
    const k = this.k++;
    const outputs = Array.from({ length: count }, (_, i) => `${this.prefix}${k}_${i}`);
    this.nodes.push({ name: `${opType}_${k}`, opType, domain: '', inputs, outputs, attributes });
    return outputs;
  }
  float(v: number): string {
    return this.op('Constant', [], { value: { type: 'tensor', value: constTensor('', 'float32', [], new Float32Array([v])) } });
  }
  /** A float scalar from an int attribute of the caller. */
  attrAsFloat(name: string): string {
    const i = this.op('Constant', [], { value_int: { type: 'ref', refAttrName: name, refType: 'int' } });
    return this.op('Cast', [i], { to: { type: 'int', value: 1 } });
  }
  /** 2^attr - 1, as float. */
  levels(name: string, two: string, one: string): string {
    return this.op('Sub', [this.op('Pow', [two, this.attrAsFloat(name)]), one]);
  }
  /**
   * A float attribute of the caller as a [1, 1] tensor, or its default when the caller omits it: Gemm's
   * alpha times the 1x1 product 1·1 is the value, exactly, and a reference to an attribute the caller does
   * not have is dropped (ONNX), which leaves Gemm's default alpha, 1, the default of alpha and beta alike.
   */
  gemmAttr(name: string, one11: string): string {
    return this.op('Gemm', [one11, one11], { alpha: { type: 'ref', refAttrName: name, refType: 'float' } });
  }
  reduceMax(x: string, axes: number[] | undefined, keepdims: boolean, opset: number): string {
    const keep = { keepdims: { type: 'int' as const, value: keepdims ? 1 : 0 } };
    if (!axes) return this.op('ReduceMax', [x], keep);
    if (opset >= 18) return this.op('ReduceMax', [x, this.op('Constant', [], { value_ints: { type: 'ints', value: axes } })], keep);
    return this.op('ReduceMax', [x], { ...keep, axes: { type: 'ints', value: axes } });
  }
}

const refs = (names: string[]): Record<string, AttributeValue> =>
  Object.fromEntries(names.map((n) => [n, { type: 'ref', refAttrName: n, refType: ATTR_TYPES[n] ?? 'ints' } as AttributeValue]));

/** Quantized weights Wq = sign(W) * round(|W|/s_w * n_w) / n_w * s_w, s_w = max(max|W|, floor). */
export function weightQuant(b: Body, w: string, two: string, one: string, opset: number): string {
  const nw = b.levels('wbits', two, one);
  const aw = b.op('Abs', [w]);
  const sw = b.op('Max', [b.reduceMax(aw, undefined, false, opset), b.float(SCALE_FLOOR)]);
  return b.op('Mul', [b.op('Sign', [w]), b.op('Mul', [b.op('Div', [b.op('Round', [b.op('Mul', [b.op('Div', [aw, sw]), nw])]), nw]), sw])]);
}

/** The scale s = max(dynamic_scale * max|x| per sample, act_scale) and the codes q. */
export function activationCodes(b: Body, x: string, actScale: string, rank: number, two: string, one: string, opset: number) {
  const n = b.levels('bits', two, one);
  const ax = b.op('Abs', [x]);
  const perSample = b.reduceMax(
    ax,
    Array.from({ length: rank - 1 }, (_, i) => i + 1),
    true,
    opset,
  );
  const s = b.op('Max', [b.op('Mul', [perSample, b.attrAsFloat('dynamic_scale')]), actScale]);
  const r = b.op('Clip', [b.op('Div', [ax, s]), b.float(0), one]);
  const q = b.op('Round', [b.op('Mul', [r, n])]);
  return { sign: b.op('Sign', [x]), q, unit: b.op('Div', [s, n]) };
}

export function makeFunction(name: string, inputs: string[], attributes: string[], b: Body, opset: number, doc: string): FunctionDef {
  return { name, domain: PG_DOMAIN, inputs, outputs: ['Y'], attributes, nodes: b.nodes, opsetImports: [{ domain: '', version: opset }], docString: doc };
}

/** What both kinds of function start with (version 1): quantized weights, the activation codes, x_q, and the op's names. */
function quantizedOperands(kind: 'conv' | 'gemm', opset: number) {
  const b = new Body();
  const two = b.float(2);
  const one = b.float(1);
  const wq = weightQuant(b, 'W', two, one, opset);
  const c = activationCodes(b, 'X', 'ActScale', kind === 'conv' ? 4 : 2, two, one, opset);
  const xq = b.op('Mul', [b.op('Mul', [c.sign, c.q]), c.unit]);
  const attrs = kind === 'conv' ? CONV_ATTRS : GEMM_ATTRS;
  return { b, two, wq, c, xq, attrs, linear: kind === 'conv' ? 'Conv' : 'Gemm' };
}

/** [1, C, 1, 1] for a Conv's per-channel vectors (NCHW), [1, C] for a Gemm's. */
function channelShape(b: Body, kind: 'conv' | 'gemm'): string {
  return b.op('Constant', [], {
    value: { type: 'tensor', value: constTensor('', 'int64', [kind === 'conv' ? 4 : 2], new BigInt64Array(kind === 'conv' ? [1n, -1n, 1n, 1n] : [1n, -1n])) },
  });
}

function gatedFunctionV1(kind: 'conv' | 'gemm', opset: number): FunctionDef {
  const { b, two, wq, c, xq, attrs, linear } = quantizedOperands(kind, opset);
  const step = b.op('Pow', [two, b.op('Sub', [b.attrAsFloat('bits'), b.attrAsFloat('hbits')])]);
  const qhb = b.op('Mul', [b.op('Floor', [b.op('Div', [c.q, step])]), step]);
  const xhb = b.op('Mul', [b.op('Mul', [c.sign, qhb]), c.unit]);
  const xlb = b.op('Sub', [xq, xhb]);
  const ohb = b.op(linear, [xhb, wq, 'B'], refs(attrs));
  const olb = b.op(linear, [xlb, wq], refs(attrs));
  const mask = b.op('Cast', [b.op('Greater', [ohb, b.op('Reshape', ['Threshold', channelShape(b, kind)])])], { to: { type: 'int', value: 1 } });
  b.op('Add', [ohb, b.op('Mul', [mask, olb])], {}, 'Y');
  return makeFunction(
    kind === 'conv' ? PG_CONV : PG_GEMM,
    ['X', 'W', 'B', 'Threshold', 'ActScale'],
    ['bits', 'hbits', 'wbits', 'dynamic_scale', ...attrs],
    b,
    opset,
    `Precision-gated ${linear}: O_hb = ${linear}(x_hb, Wq) + B; Y = O_hb + 1[O_hb > Threshold] * ${linear}(x_lb, Wq).`,
  );
}

function quantFunctionV1(kind: 'conv' | 'gemm', opset: number): FunctionDef {
  const { b, wq, xq, attrs, linear } = quantizedOperands(kind, opset);
  b.op(linear, [xq, wq, 'B'], refs(attrs), 'Y');
  return makeFunction(
    kind === 'conv' ? Q_CONV : Q_GEMM,
    ['X', 'W', 'B', 'ActScale'],
    ['bits', 'wbits', 'dynamic_scale', ...attrs],
    b,
    opset,
    `${linear} on inputs fake-quantized to 'bits' and weights to 'wbits' (static precision, not gated).`,
  );
}

/**
 * A version-2 body's start: the constants 2 and 1, and W's integer codes k = sign(W)·round(|W|/s_w·n_w) with
 * s_w = max(max|W|, floor) and n_w = 2^wbits - 1.
 */
export function integerWeights(opset: number) {
  const b = new Body();
  const two = b.float(2);
  const one = b.float(1);
  const nw = b.levels('wbits', two, one);
  const aw = b.op('Abs', ['W']);
  const sw = b.op('Max', [b.reduceMax(aw, undefined, false, opset), b.float(SCALE_FLOOR)]);
  const k = b.op('Mul', [b.op('Sign', ['W']), b.op('Round', [b.op('Mul', [b.op('Div', [aw, sw]), nw])])]);
  return { b, two, one, nw, sw, k };
}

/**
 * Version 2 operands: integer codes and the float32 value of one accumulator unit, c = (s/n)·(s_w/n_w).
 * The convolutions then sum integers, exact in float32 while the sum of |products| stays below 2^24, so
 * any summation order (pg's XNNPACK, ONNX Runtime's MLAS) gives the same float32 accumulator; the scaling
 * after it is elementwise and IEEE-exact in both. Op order mirrors integerOperands in kernels.ts.
 */
function integerOperands(kind: 'conv' | 'gemm', opset: number) {
  const { b, two, one, nw, sw, k } = integerWeights(opset);
  const c = activationCodes(b, 'X', 'ActScale', kind === 'conv' ? 4 : 2, two, one, opset);
  const unit = b.op('Mul', [c.unit, b.op('Div', [sw, nw])]);
  if (kind === 'conv') {
    const acc = (codes: string): string => b.op('Conv', [codes, k], refs(CONV_ATTRS));
    return { b, two, c, accUnit: unit, attrs: CONV_ATTRS, linear: 'Conv', acc, bias: b.op('Reshape', ['B', channelShape(b, kind)]) };
  }
  // Gemm: the accumulator unit times alpha, the bias (C, any shape that broadcasts to [M, N]) times beta.
  const one11 = b.op('Constant', [], { value: { type: 'tensor', value: constTensor('', 'float32', [1, 1], new Float32Array([1])) } });
  const accUnit = b.op('Mul', [unit, b.gemmAttr('alpha', one11)]);
  const bias = b.op('Mul', ['B', b.gemmAttr('beta', one11)]);
  const acc = (codes: string): string => b.op('Gemm', [codes, k], refs(['transB']));
  return { b, two, c, accUnit, attrs: GEMM_ATTRS, linear: 'Gemm', acc, bias };
}

/**
 * `residual`: the gate compares O_hb + GateOffset (the residual Add's other operand, the output's shape) with
 * the threshold, in the kernel's order (kernels.ts gateInput); Y is the plain gated layer's.
 * `recompute`: the body reads the caller's RECOMPUTE_ATTR (which every caller then carries): Y = O_hb · keep +
 * M · O_lb with keep = max(M, 1 - recompute), so 1 gives SeerNet's M · (O_hb + O_lb) and 0 gives PG's output
 * (a product by 1 is exact). Without it the body is PG's, for files whose nodes lack the attribute.
 */
function gatedFunctionV2(kind: 'conv' | 'gemm', opset: number, form: { residual?: boolean; recompute?: boolean } = {}): FunctionDef {
  const { residual = false, recompute = false } = form;
  const { b, two, c, accUnit, attrs, linear, acc, bias } = integerOperands(kind, opset);
  const step = b.op('Pow', [two, b.op('Sub', [b.attrAsFloat('bits'), b.attrAsFloat('hbits')])]);
  const top = b.op('Floor', [b.op('Div', [c.q, step])]);
  const qhb = b.op('Mul', [c.sign, top]);
  const qlb = b.op('Mul', [c.sign, b.op('Sub', [c.q, b.op('Mul', [top, step])])]);
  const ohb = b.op('Add', [b.op('Mul', [acc(qhb), b.op('Mul', [accUnit, step])]), bias]);
  const olb = b.op('Mul', [acc(qlb), accUnit]);
  const compared = residual ? b.op('Add', [ohb, 'GateOffset']) : ohb;
  const mask = b.op('Cast', [b.op('Greater', [compared, b.op('Reshape', ['Threshold', channelShape(b, kind)])])], { to: { type: 'int', value: 1 } });
  const kept = recompute ? b.op('Mul', [ohb, b.op('Max', [mask, b.op('Sub', [b.float(1), b.attrAsFloat(RECOMPUTE_ATTR)])])]) : ohb;
  b.op('Add', [kept, b.op('Mul', [mask, olb])], {}, 'Y');
  const name = residual ? (kind === 'conv' ? PG_CONV_RESIDUAL : PG_GEMM_RESIDUAL) : kind === 'conv' ? PG_CONV : PG_GEMM;
  const gateOn = residual ? 'O_hb + GateOffset' : 'O_hb';
  const y = recompute ? `Y = O_hb * max(M, 1 - ${RECOMPUTE_ATTR}) + M * O_lb` : 'Y = O_hb + M * O_lb';
  const attributes = ['bits', 'hbits', 'wbits', 'dynamic_scale', ...(recompute ? [RECOMPUTE_ATTR] : []), ...attrs];
  return makeFunction(
    name,
    ['X', 'W', 'B', 'Threshold', 'ActScale', ...(residual ? ['GateOffset'] : [])],
    attributes,
    b,
    opset,
    `Precision-gated ${linear} on integer codes: O_hb = ${linear}(q_hb, k) * (c * step) + B; M = 1[${gateOn} > Threshold]; ${y} (O_lb = ${linear}(q_lb, k) * c, c = (s/n)(s_w/n_w)).`,
  );
}

function quantFunctionV2(kind: 'conv' | 'gemm', opset: number): FunctionDef {
  const { b, c, accUnit, attrs, linear, acc, bias } = integerOperands(kind, opset);
  b.op('Add', [b.op('Mul', [acc(b.op('Mul', [c.sign, c.q])), accUnit]), bias], {}, 'Y');
  return makeFunction(
    kind === 'conv' ? Q_CONV : Q_GEMM,
    ['X', 'W', 'B', 'ActScale'],
    ['bits', 'wbits', 'dynamic_scale', ...attrs],
    b,
    opset,
    `${linear} on integer codes (inputs at 'bits', weights at 'wbits'), scaled after: Y = ${linear}(q, k) * c + B (static precision, not gated).`,
  );
}

/**
 * The functions for the pg ops a model uses, written at the model's default-domain opset, in the form of
 * the model's org.precisiongating version (1: dequantize then convolve; 2: integer accumulation); the gated
 * ops named in `recompute` read their callers' RECOMPUTE_ATTR (version 2 only).
 */
export function pgFunctions(opTypes: Set<string>, opset: number, pgVersion: number = PG_DOMAIN_VERSION, recompute: ReadonlySet<string> = new Set()): FunctionDef[] {
  const v2 = pgVersion >= INTEGER_ACCUMULATION_VERSION;
  const gated = (kind: 'conv' | 'gemm', o: number) => (v2 ? gatedFunctionV2(kind, o, { recompute: recompute.has(kind === 'conv' ? PG_CONV : PG_GEMM) }) : gatedFunctionV1(kind, o));
  const quant = v2 ? quantFunctionV2 : quantFunctionV1;
  const all: [string, () => FunctionDef][] = [
    [PG_CONV, () => gated('conv', opset)],
    [PG_GEMM, () => gated('gemm', opset)],
    [Q_CONV, () => quant('conv', opset)],
    [Q_GEMM, () => quant('gemm', opset)],
    // Residual gating exists from version 2 only.
    ...(v2
      ? ([
          [PG_CONV_RESIDUAL, () => gatedFunctionV2('conv', opset, { residual: true })],
          [PG_GEMM_RESIDUAL, () => gatedFunctionV2('gemm', opset, { residual: true })],
        ] as [string, () => FunctionDef][])
      : []),
  ];
  return all.filter(([name]) => opTypes.has(name)).map(([, make]) => make());
}
