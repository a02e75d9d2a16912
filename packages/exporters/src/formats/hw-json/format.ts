/**
 * The hw-json format (docs/hw-json.md): a JSON description of a gated model plus one binary file of
 * tensors, from which an integer-only implementation reproduces pg's gate decisions. Changing a field's
 * meaning changes the format: bump HW_JSON_VERSION.
 */
export const HW_JSON_FORMAT = 'pg-hw-json';
/**
 * 2: residual gates (`gate`, `gate_offset`, `threshold.acc` null for them). 3: recurrent layers (`op` `"LSTM"`,
 * HwRecurrentLayer); the fields of every other node are version 2's.
 */
export const HW_JSON_VERSION = 3;

/** Offsets in the binary file are multiples of this. */
export const HW_TENSOR_ALIGNMENT = 64;

export type HwDtype = 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'float32' | 'float64' | 'bool';

/** A tensor in the binary file: little-endian, row-major, `bytes` long from `offset`. */
export interface HwTensorRef {
  offset: number;
  bytes: number;
  dtype: HwDtype;
  shape: number[];
}

export interface HwActivation {
  /** B: bits of the activation codes' magnitude. */
  bits: number;
  /** B_hb: bits of the prediction (gated layers), null otherwise. */
  hbits: number | null;
  /** 2^(B - B_hb): the weight of one high-part unit in code units (gated layers), null otherwise. */
  step: number | null;
  /** n = 2^B - 1: the largest code magnitude. */
  levels: number;
  /** s_x (float32): the static activation scale; |x| >= s_x maps to code n. */
  scale: number;
}

export interface HwWeights {
  /** wbits: bits of the weight codes' magnitude (a sign comes on top: codes need wbits + 1 bits). */
  bits: number;
  /** n_w = 2^wbits - 1. */
  levels: number;
  /** s_w (float32): max |W| of the float weights; a weight is k * s_w / n_w (times sign(alpha) for a Gemm). */
  scale: number;
  /** The integer codes k, in the ONNX weight layout (Conv: [C_out, C_in/group, kH, kW]; Gemm: as trans_b says; MatMul: [K, F]). */
  codes: HwTensorRef;
}

export interface HwConvGeometry {
  kernel_shape: [number, number];
  strides: [number, number];
  /** [top, left, bottom, right], explicit (auto_pad resolved). */
  pads: [number, number, number, number];
  dilations: [number, number];
  group: number;
}

/** A PG layer (gated) or a statically quantized layer (QConv/QGemm/QMatMul). */
export interface HwLinearLayer {
  kind: 'gated' | 'quantized';
  /** MatMul: a linear layer on tokens, Y = X W (+ b) over the input's last axis, W [K, F]. */
  op: 'Conv' | 'Gemm' | 'MatMul';
  name: string;
  input: string;
  output: string;
  /** Per sample, without the batch dimension: [C, H, W] for Conv, [K] for Gemm, [T, K] for MatMul (T tokens). */
  input_shape: number[];
  output_shape: number[];
  conv: HwConvGeometry | null;
  /** Gemm only: 1 when the weight is stored [N_out, K] (Y = X W^T), 0 when [K, N_out]. */
  trans_b: number | null;
  /**
   * Gemm only: ONNX's alpha and beta (Y = alpha X W + beta C), already applied: |alpha| is in
   * `accumulator.scale`, alpha's sign in `weights.codes`, beta in `bias.float`. For reading, not applying again.
   */
  alpha: number | null;
  beta: number | null;
  activation: HwActivation;
  weights: HwWeights;
  accumulator: {
    /** S = (s_x / n) * (s_w / n_w) (* |alpha| for a Gemm): the float value of one accumulator unit. */
    scale: number;
    /** Bits (with sign) that hold any sum of code products: 1 + ceil(log2(K * n * n_w + 1)). */
    bits: number;
    /** K: products summed per output (C_in/group * kH * kW, or the Gemm's or MatMul's K). */
    fan_in: number;
  };
  /** Per output channel; null when the layer has none. */
  bias: { float: HwTensorRef; acc: HwTensorRef } | null;
  /**
   * Gated layers: per output channel, the float threshold Δ and T = floor((Δ - b) / S) in accumulator units
   * (null for a residual gate, which compares in float32 after adding the offset).
   */
  threshold: { float: HwTensorRef; acc: HwTensorRef | null } | null;
  /** 'plain': M = acc_hb > T; 'residual': M = f32(f32(f32(acc_hb c) + b) + offset) > Δ; null when quantized. */
  gate: 'plain' | 'residual' | null;
  /** A residual gate's offset: the value (the residual Add's other operand) added to the prediction; else null. */
  gate_offset: string | null;
  /**
   * Gated layers: what an output whose gate stays closed holds: 'prediction' (PG: acc_hb's value) or 'zero'
   * (SeerNet, pg convert --mode seernet); null for quantized layers. Outputs whose gate opens are the same in both.
   */
  gated_off: 'prediction' | 'zero' | null;
}

/** A recurrent layer's weight codes (W or R): per direction, each direction with its own scale. */
export interface HwRecurrentWeights {
  /** wbits: bits of the codes' magnitude (a sign comes on top). */
  bits: number;
  /** n_w = 2^wbits - 1. */
  levels: number;
  /** s_w of each direction (float32): max |W_d| of that direction's float weights. */
  scale: number[];
  /** The integer codes, ONNX's layout: W [D, G·H, input_size], R [D, G·H, hidden_size]. */
  codes: HwTensorRef;
}

/** One of a recurrent layer's two accumulations (x_t's products with W, h_{t-1}'s with R). */
export interface HwRecurrentAccumulator {
  /** S per direction = (s / n) * (s_w / n_w): the float value of one accumulator unit (float64). */
  scale: number[];
  /** Bits (with sign) that hold any sum: 1 + ceil(log2(K * n * n_w + 1)). */
  bits: number;
  /** K: input_size (x's products) or hidden_size (h's). */
  fan_in: number;
}

/**
 * A gated or statically quantized LSTM or GRU (PGLSTM/QLSTM, PGGRU/QGRU): ONNX's LSTM (GRU) whose gate
 * pre-activations are integer accumulations of x_t's and h_{t-1}'s codes, scaled and compared in float32
 * (docs/hw-json.md, step 7).
 */
export interface HwRecurrentLayer {
  kind: 'gated' | 'quantized';
  op: 'LSTM' | 'GRU';
  name: string;
  /**
   * The ONNX op's inputs (LSTM: X, W, R, B, sequence_lens, initial_h, initial_c, P; GRU: the first six; '' when
   * absent). W, R and B are described below; the others are values of the graph, or constants in `params`.
   */
  inputs: string[];
  /** Y, Y_h and (LSTM) Y_c ('' when absent), in ONNX's shapes for `layout`. */
  outputs: string[];
  direction: 'forward' | 'reverse' | 'bidirectional';
  hidden_size: number;
  input_size: number;
  /** ONNX's layout: 0 X [T, N, F], Y [T, D, N, H]; 1 X [N, T, F], Y [N, T, D, H]. */
  layout: number;
  /** ONNX's clip of the gate pre-activations (to [-clip, clip] before each activation), or null. */
  clip: number | null;
  /** LSTM: ONNX's input_forget (1: the forget gate is 1 - the input gate); null for a GRU. */
  input_forget: number | null;
  /** GRU: ONNX's linear_before_reset (1: h's hidden-gate product, plus Rb_h, is taken under r); null for an LSTM. */
  linear_before_reset: number | null;
  /** The gate rows of W, R, B, the threshold and z, in order: ONNX's i, o, f, c (LSTM) or z, r, h (GRU). */
  gate_order: string[];
  /** x_t's quantizer (step 2 with x's static scale). */
  activation: HwActivation;
  /** h_{t-1}'s quantizer (step 2 with the fixed scale 1: h lies in (-1, 1)). */
  state_activation: HwActivation;
  weights: HwRecurrentWeights;
  recurrent_weights: HwRecurrentWeights;
  accumulator: { input: HwRecurrentAccumulator; state: HwRecurrentAccumulator };
  /**
   * `float`: b per direction and gate row [D, G·H], added to x's part: f32(Wb + Rb), but Wb alone for a GRU's
   * hidden gate with linear_before_reset, whose Rb_h is `recurrent` [D, H] (added to h's part under r; else null).
   * null when B is absent.
   */
  bias: { float: HwTensorRef; recurrent: HwTensorRef | null } | null;
  /** Gated: Δ per direction and gate row [D, G·H] in the rule's statistic (acc null: the gate compares in float32). */
  threshold: { float: HwTensorRef; acc: null } | null;
  /** 'recurrent' (gated: step 7's float32 comparison), null when quantized. */
  gate: 'recurrent' | null;
  /** What the gate compares with Δ: z_hb ('above'), |z_hb| ('magnitude'), -|z_hb| ('knee'); null when quantized. */
  gate_rule: 'above' | 'magnitude' | 'knee' | null;
  /** Gated: 'prediction' (a closed gate keeps z_hb); null when quantized. */
  gated_off: 'prediction' | null;
  /** Inputs other than W, R, B that are constants (sequence_lens, initial_h, and an LSTM's initial_c, P), by input name. */
  params: Record<string, HwTensorRef>;
}

/** A node pg leaves float (stem, classifier, pools, adds, ReLUs): the ONNX op with its float parameters. */
export interface HwFloatNode {
  kind: 'float';
  op: string;
  /** '' is the standard ONNX domain. */
  domain: string;
  name: string;
  inputs: string[];
  outputs: string[];
  /** The ONNX attributes; a tensor attribute is a tensor in the binary file. */
  attributes: Record<string, number | string | number[] | string[] | HwTensorRef>;
  /** Inputs that are constants (initializers), by input name. */
  params: Record<string, HwTensorRef>;
}

export type HwNode = HwLinearLayer | HwRecurrentLayer | HwFloatNode;

export interface HwModel {
  format: typeof HW_JSON_FORMAT;
  version: number;
  producer: string;
  /** The binary tensor file, relative to this file's folder. */
  tensor_file: string;
  /** The ONNX opset the float nodes' semantics follow. */
  onnx_opset: number;
  inputs: { name: string; shape: (number | string | null)[]; dtype: string }[];
  outputs: string[];
  /** pg's preprocessing metadata (per-channel mean/std), when the model has it. */
  preprocess: { mean: number[]; std: number[] } | null;
  /** Every value's shape at batch 1 (batch dimension included). */
  value_shapes: Record<string, number[]>;
  /** All nodes in execution order. */
  nodes: HwNode[];
}
