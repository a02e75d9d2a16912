import type { FunctionDef } from '../graph/index.js';
import { activationCodes, integerWeights, makeFunction } from './functions.js';
import { INTEGER_ACCUMULATION_VERSION, PG_MATMUL, Q_MATMUL } from './format.js';

/**
 * PGMatMul and QMatMul as ONNX functions (docs/gated-format.md): a linear layer on token activations,
 * Y = X·W + B over the last axis of an X of any rank. The quantizer works per sample as for the other pg
 * ops, on X flattened to [N, ·] (so one body serves every rank), and the per-sample accumulator unit
 * scales the MatMul's result flattened the same way: reshapes only, so the float32 operations are those of
 * pg's kernel, which computes on X's own shape.
 */

const FLATTEN = { axis: { type: 'int' as const, value: 1 } };

function integerMatMulOperands(opset: number) {
  const { b, two, one, nw, sw, k } = integerWeights(opset);
  const c = activationCodes(b, b.op('Flatten', ['X'], FLATTEN), 'ActScale', 2, two, one, opset);
  const accUnit = b.op('Mul', [c.unit, b.op('Div', [sw, nw])]);
  const xShape = b.op('Shape', ['X']);
  /** MatMul(codes, k) · unit, codes given flat ([N, ·]) and the unit per sample ([N, 1]). */
  const scaled = (flatCodes: string, unit: string): string => {
    const acc = b.op('MatMul', [b.op('Reshape', [flatCodes, xShape]), k]);
    return b.op('Reshape', [b.op('Mul', [b.op('Flatten', [acc], FLATTEN), unit]), b.op('Shape', [acc])]);
  };
  return { b, two, c, accUnit, scaled };
}

function gatedMatMulFunction(opset: number): FunctionDef {
  const { b, two, c, accUnit, scaled } = integerMatMulOperands(opset);
  const step = b.op('Pow', [two, b.op('Sub', [b.attrAsFloat('bits'), b.attrAsFloat('hbits')])]);
  const top = b.op('Floor', [b.op('Div', [c.q, step])]);
  const qhb = b.op('Mul', [c.sign, top]);
  const qlb = b.op('Mul', [c.sign, b.op('Sub', [c.q, b.op('Mul', [top, step])])]);
  const ohb = b.op('Add', [scaled(qhb, b.op('Mul', [accUnit, step])), 'B']);
  const olb = scaled(qlb, accUnit);
  const mask = b.op('Cast', [b.op('Greater', [ohb, 'Threshold'])], { to: { type: 'int', value: 1 } });
  b.op('Add', [ohb, b.op('Mul', [mask, olb])], {}, 'Y');
  return makeFunction(
    PG_MATMUL,
    ['X', 'W', 'B', 'Threshold', 'ActScale'],
    ['bits', 'hbits', 'wbits', 'dynamic_scale'],
    b,
    opset,
    'Precision-gated MatMul over the last axis on integer codes: O_hb = MatMul(q_hb, k) * (c * step) + B; Y = O_hb + 1[O_hb > Threshold] * MatMul(q_lb, k) * c, c = (s/n)(s_w/n_w) per sample.',
  );
}

function quantMatMulFunction(opset: number): FunctionDef {
  const { b, c, accUnit, scaled } = integerMatMulOperands(opset);
  b.op('Add', [scaled(b.op('Mul', [c.sign, c.q]), accUnit), 'B'], {}, 'Y');
  return makeFunction(
    Q_MATMUL,
    ['X', 'W', 'B', 'ActScale'],
    ['bits', 'wbits', 'dynamic_scale'],
    b,
    opset,
    "MatMul over the last axis on integer codes (inputs at 'bits', weights at 'wbits'), scaled after: Y = MatMul(q, k) * c + B (static precision, not gated).",
  );
}

/** The MatMul forms' functions among `opTypes`, at the model's default-domain opset (domain version 2 on). */
export function matMulFunctions(opTypes: Set<string>, opset: number, pgVersion: number): FunctionDef[] {
  if (pgVersion < INTEGER_ACCUMULATION_VERSION) return [];
  return [...(opTypes.has(PG_MATMUL) ? [gatedMatMulFunction(opset)] : []), ...(opTypes.has(Q_MATMUL) ? [quantMatMulFunction(opset)] : [])];
}
