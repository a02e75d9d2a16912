/**
 * Names that make up the gated-model format (docs/gated-format.md). Changing any of them changes the
 * file format: bump FORMAT_VERSION.
 */
export const PG_DOMAIN = 'org.precisiongating';
/**
 * Version 2: the gated and quantized ops accumulate integer codes (Conv/Gemm of the activation codes and
 * the weight codes, exact in float32 below 2^24) and scale afterwards, so every runtime computes the same
 * float32 prediction. Version 1 convolved the dequantized values; files declaring it keep that form.
 */
export const PG_DOMAIN_VERSION = 2;
export const FORMAT_VERSION = '2';
/** The first domain version with the integer-accumulation form. */
export const INTEGER_ACCUMULATION_VERSION = 2;

/** Gated layers: prediction from the high bits, update from the low bits where the gate opens. */
export const PG_CONV = 'PGConv';
export const PG_GEMM = 'PGGemm';
/**
 * Gated layers whose gate reads the sum with the residual they are added to: a sixth input, the gate offset
 * (the Add's other operand), is added to the prediction before the comparison only. Separate ops because a
 * function body cannot branch on whether an optional input is present.
 */
export const PG_CONV_RESIDUAL = 'PGResidualConv';
export const PG_GEMM_RESIDUAL = 'PGResidualGemm';
/** Layers quantized statically at B bits (between gated ones), not gated. */
export const Q_CONV = 'QConv';
export const Q_GEMM = 'QGemm';
/**
 * A linear layer on token activations (a MatMul by a constant [K, F] weight and its bias Add), over the
 * last axis of an input of any rank: gated, or quantized statically. Domain version 2 on.
 */
export const PG_MATMUL = 'PGMatMul';
export const Q_MATMUL = 'QMatMul';

/**
 * An ONNX LSTM gated per unit and time step on its gate pre-activations z_t = W x_t + R h_{t−1} + b (gating/recurrent-gate.ts):
 * LSTM's inputs X, W, R, B, sequence_lens, initial_h, initial_c, P, then Threshold [D, 4·H] (in the form the gate
 * compares, see RECURRENT_GATE_RULE_ATTR) and ActScale (x's static scale). Q_LSTM is the same layer at B bits
 * without a gate (its ActScale is input 8). Their ONNX functions (recurrent-functions.ts) run a Scan over the steps.
 */
export const PG_LSTM = 'PGLSTM';
export const Q_LSTM = 'QLSTM';
/** A PGLSTM's string attribute: which gate rule ('above', 'magnitude', 'knee'; docs/method.md). */
export const RECURRENT_GATE_RULE_ATTR = 'gate_rule';

export const GATED_OPS = [PG_CONV, PG_GEMM, PG_CONV_RESIDUAL, PG_GEMM_RESIDUAL, PG_MATMUL, PG_LSTM] as const;

/**
 * What `pg convert` makes of the layers the method gates: 'pg' gates them (PGConv/PGGemm); 'static' quantizes
 * them at B bits without a gate (QConv/QGemm: the uniform-quantization baseline); 'seernet' gates them in
 * SeerNet's form (Cao et al., CVPR 2019): PGConv/PGGemm with RECOMPUTE_ATTR = 1.
 */
export const CONVERSION_MODES = ['pg', 'static', 'seernet'] as const;
export type ConversionMode = (typeof CONVERSION_MODES)[number];
/**
 * A gated node's int attribute: 1 makes the outputs whose gate passes the full B-bit result (O_hb + O_lb, a
 * recompute at B bits) and the others zero, what the ReLU after them would write (SeerNet); absent or 0,
 * gated-off outputs keep O_hb (PG). Only the gated-off outputs' values differ.
 */
export const RECOMPUTE_ATTR = 'recompute';
export const QUANT_OPS = [Q_CONV, Q_GEMM, Q_MATMUL, Q_LSTM] as const;

/** pg's recurrent layers (their weights, threshold and scale sit at other inputs than a conv's). */
export function isPgRecurrentNode(n: { domain: string; opType: string }): boolean {
  return n.domain === PG_DOMAIN && (n.opType === PG_LSTM || n.opType === Q_LSTM);
}

/** Metadata keys written into gated models. */
export const META = {
  format: 'pg.format_version',
  actScale: 'pg.act_scale',
  bits: 'pg.bits',
  hbits: 'pg.hbits',
  wbits: 'pg.wbits',
  mean: 'pg.preprocess.mean',
  std: 'pg.preprocess.std',
  finetune: 'pg.finetune',
  /** The ConversionMode convert used; files without it were converted as 'pg'. */
  mode: 'pg.mode',
  /** A language model's unit of perplexity ('char', 'word'), written by whoever trained it. */
  lmUnit: 'pg.lm_unit',
} as const;

/** Initializer names pg adds next to a layer's weights. */
export const thresholdName = (layer: string) => `${layer}.pg_threshold`;
export const actScaleName = (layer: string) => `${layer}.pg_act_scale`;
/** A zero bias pg adds to a converted layer without one (the function bodies add the bias after scaling). */
export const biasName = (layer: string) => `${layer}.pg_bias`;

export type ActScaleMode = 'dynamic' | 'static';

export function isPgNode(n: { domain: string; opType: string }): boolean {
  return n.domain === PG_DOMAIN;
}

export function isGatedNode(n: { domain: string; opType: string }): boolean {
  return n.domain === PG_DOMAIN && (GATED_OPS as readonly string[]).includes(n.opType);
}

/** Gated on the sum with a residual (PGResidualConv/PGResidualGemm): the gate offset is input 5. */
export function isResidualGatedNode(n: { domain: string; opType: string }): boolean {
  return n.domain === PG_DOMAIN && (n.opType === PG_CONV_RESIDUAL || n.opType === PG_GEMM_RESIDUAL);
}

/** Conv or Gemm: the linear op a pg op computes. */
export function linearOpOf(opType: string): 'Conv' | 'Gemm' | undefined {
  if (opType === 'Conv' || opType === PG_CONV || opType === Q_CONV || opType === PG_CONV_RESIDUAL) return 'Conv';
  if (opType === 'Gemm' || opType === PG_GEMM || opType === Q_GEMM || opType === PG_GEMM_RESIDUAL) return 'Gemm';
  return undefined;
}
