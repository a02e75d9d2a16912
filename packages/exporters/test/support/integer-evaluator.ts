import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { HwActivation, HwLinearLayer, HwModel, HwRecurrentLayer, HwTensorRef } from '../../src/index.js';

/**
 * A reference implementation of docs/hw-json.md, written from the document and reading only the exported
 * files: it quantizes a layer's float input to integer codes (the one float step, the input quantizer),
 * and from there uses integer arithmetic only (Int32 accumulators, Math.imul): split into high and low
 * parts, the two accumulators, the threshold comparison in accumulator units, the integer output.
 */
export class HwDescription {
  readonly model: HwModel;
  private readonly bytes: Buffer;

  constructor(jsonPath: string) {
    this.model = JSON.parse(readFileSync(jsonPath, 'utf8')) as HwModel;
    this.bytes = readFileSync(join(dirname(jsonPath), this.model.tensor_file));
  }

  layer(name: string): HwLinearLayer {
    const l = this.model.nodes.find((n) => n.name === name);
    if (!l || l.kind === 'float' || 'recurrent_weights' in l) throw new Error(`no integer Conv, Gemm or MatMul layer '${name}'`);
    return l;
  }

  recurrentLayer(name: string): HwRecurrentLayer {
    const l = this.model.nodes.find((n) => n.name === name);
    if (!l || l.kind === 'float' || !('recurrent_weights' in l)) throw new Error(`no recurrent layer '${name}'`);
    return l;
  }

  /** A tensor of the binary file as integers (every value a safe integer) or floats. */
  tensor(ref: HwTensorRef): number[] {
    const buf = this.bytes.buffer.slice(this.bytes.byteOffset + ref.offset, this.bytes.byteOffset + ref.offset + ref.bytes);
    switch (ref.dtype) {
      case 'int8':
        return [...new Int8Array(buf)];
      case 'int16':
        return [...new Int16Array(buf)];
      case 'int32':
        return [...new Int32Array(buf)];
      case 'int64':
        return [...new BigInt64Array(buf)].map(Number);
      case 'float32':
        return [...new Float32Array(buf)];
      default:
        throw new Error(`dtype ${ref.dtype} not expected in a layer`);
    }
  }
}

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
}

/** x_code = round_half_even(f32(clamp(f32(x / s_x), -1, 1) * n)): integers in [-n, n]. */
export function activationCodes(x: Float32Array, layer: { activation: HwActivation }): Int32Array {
  const { scale, levels } = layer.activation;
  const q = new Int32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const t = Math.min(Math.max(Math.fround(x[i] / scale), -1), 1);
    q[i] = roundHalfEven(Math.fround(t * levels));
  }
  return q;
}

export interface IntegerLayerResult {
  /** Output shape [N, ...output_shape]. */
  shape: number[];
  /** Gated layers: acc_hb = sum of q_hb * k (the prediction, accumulator units). */
  accHb: Int32Array;
  /** acc_lb = sum of q_lb * k for gated layers; for quantized layers the whole sum of q * k. */
  accLb: Int32Array;
  /** Gated layers: M = acc_hb > T (1 = updated). */
  gate: Uint8Array;
  /** Integer output: acc_hb + M * acc_lb + bias_acc (quantized layers: acc + bias_acc). */
  outputAcc: Int32Array;
  /** The output in float: S * (acc_hb + M * acc_lb) + b, b the float bias. */
  output: Float64Array;
  /** Gated layers: sum of |q_hb * k|, the magnitude that bounds float32 rounding of the prediction. */
  absHb: Int32Array;
  /** Largest |accumulator| seen, to check the declared accumulator width. */
  maxAbsAcc: number;
}

/** The float32 value of one accumulator unit: c = f32(f32(f32(s_x/n) f32(s_w/n_w)) |alpha|) (docs/hw-json.md). */
export const unitFloat32 = (layer: HwLinearLayer): number =>
  Math.fround(Math.fround(Math.fround(layer.activation.scale / layer.activation.levels) * Math.fround(layer.weights.scale / layer.weights.levels)) * Math.abs(layer.alpha ?? 1));

/**
 * Runs one gated or quantized layer of the description on float inputs [N, ...input_shape]; a residual gate
 * (`gate: "residual"`) also reads its gate offset, the value `gate_offset` names, [N, ...output_shape].
 */
/** The high part of a code: truncated to a multiple of step (toward zero); the low part is the rest. Integer ops only. */
export function splitCodes(q: Int32Array, step: number): { hb: Int32Array; lb: Int32Array } {
  const hb = Int32Array.from(q, (v) => Math.imul(Math.trunc(v / step) | 0, step));
  return { hb, lb: Int32Array.from(q, (v, i) => (v - hb[i]) | 0) };
}

export function evaluateLayer(hw: HwDescription, layer: HwLinearLayer, x: Float32Array, n: number, offset?: Float32Array): IntegerLayerResult {
  const q = activationCodes(x, layer);
  const gated = layer.kind === 'gated';
  // A quantized layer has no prediction: its whole code is accumulated once, as the low part.
  const { hb: qhb, lb: qlb } = gated ? splitCodes(q, layer.activation.step ?? 1) : { hb: new Int32Array(q.length), lb: q };
  const k = Int32Array.from(hw.tensor(layer.weights.codes));
  // Channels: axis 1 of a Conv's output; the last axis of a Gemm's [F] and a MatMul's [T, F] (every token alike).
  const channelsLast = layer.op !== 'Conv';
  const outC = channelsLast ? layer.output_shape[layer.output_shape.length - 1] : layer.output_shape[0];
  const perSample = layer.output_shape.reduce((a, b) => a * b, 1);
  const accHb = new Int32Array(n * perSample);
  const accLb = new Int32Array(n * perSample);
  const absHb = new Int32Array(n * perSample);
  if (layer.op === 'Conv') convAccumulate(layer, qhb, qlb, k, n, accHb, accLb, absHb);
  else if (layer.op === 'Gemm') gemmAccumulate(layer, qhb, qlb, k, n, accHb, accLb, absHb);
  else {
    // A MatMul is a Gemm over every token: n·T rows of K, W [K, F].
    const tokens = layer.input_shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const rows = { ...layer, input_shape: layer.input_shape.slice(-1), output_shape: [outC], trans_b: 0 };
    gemmAccumulate(rows, qhb, qlb, k, n * tokens, accHb, accLb, absHb);
  }

  const threshold = layer.threshold?.acc ? hw.tensor(layer.threshold.acc) : undefined;
  const residual = layer.gate === 'residual';
  if (residual && (!offset || !layer.threshold)) throw new Error(`layer '${layer.name}': a residual gate needs its offset '${layer.gate_offset}' and threshold`);
  const thresholdFloat = residual ? hw.tensor(layer.threshold!.float) : undefined;
  const unit = unitFloat32(layer);
  const biasAcc = layer.bias ? hw.tensor(layer.bias.acc) : undefined;
  const biasF = layer.bias ? hw.tensor(layer.bias.float) : undefined;
  const spatial = channelsLast ? 1 : perSample / outC;
  const gate = new Uint8Array(accHb.length);
  const outputAcc = new Int32Array(accHb.length);
  const output = new Float64Array(accHb.length);
  let maxAbsAcc = 0;
  for (let i = 0; i < accHb.length; i++) {
    const c = Math.floor(i / spatial) % outC;
    // Residual gate: the float32 prediction plus the offset against Δ (docs/hw-json.md, step 5).
    const m = !gated
      ? 1
      : residual
        ? Math.fround(Math.fround(Math.fround(accHb[i] * unit) + Math.fround(biasF?.[c] ?? 0)) + offset![i]) > thresholdFloat![c]
          ? 1
          : 0
        : accHb[i] > threshold![c]
          ? 1
          : 0;
    gate[i] = m;
    const acc = (accHb[i] + (m ? accLb[i] : 0)) | 0;
    // A closed gate in SeerNet's form writes zero instead of the prediction.
    const zero = m === 0 && layer.gated_off === 'zero';
    outputAcc[i] = zero ? 0 : (acc + (biasAcc?.[c] ?? 0)) | 0;
    output[i] = zero ? 0 : layer.accumulator.scale * acc + (biasF?.[c] ?? 0);
    maxAbsAcc = Math.max(maxAbsAcc, Math.abs(accHb[i]), Math.abs(accLb[i]), Math.abs(acc));
  }
  return { shape: [n, ...layer.output_shape], accHb, accLb, gate, outputAcc, output, absHb, maxAbsAcc };
}

function convAccumulate(layer: HwLinearLayer, qhb: Int32Array, qlb: Int32Array, k: Int32Array, n: number, accHb: Int32Array, accLb: Int32Array, absHb: Int32Array): void {
  const g = layer.conv!;
  const [inC, inH, inW] = layer.input_shape;
  const [outC, outH, outW] = layer.output_shape;
  const [kh, kw] = g.kernel_shape;
  const [sh, sw] = g.strides;
  const [pt, pl] = g.pads;
  const [dh, dw] = g.dilations;
  const inPerGroup = inC / g.group;
  const outPerGroup = outC / g.group;
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < outC; o++) {
      const grp = Math.floor(o / outPerGroup);
      for (let oy = 0; oy < outH; oy++) {
        for (let ox = 0; ox < outW; ox++) {
          let hb = 0;
          let lb = 0;
          let abs = 0;
          for (let ci = 0; ci < inPerGroup; ci++) {
            const c = grp * inPerGroup + ci;
            for (let ky = 0; ky < kh; ky++) {
              const iy = oy * sh - pt + ky * dh;
              if (iy < 0 || iy >= inH) continue;
              for (let kx = 0; kx < kw; kx++) {
                const ix = ox * sw - pl + kx * dw;
                if (ix < 0 || ix >= inW) continue;
                const xi = ((b * inC + c) * inH + iy) * inW + ix;
                const wk = k[((o * inPerGroup + ci) * kh + ky) * kw + kx];
                hb = (hb + Math.imul(qhb[xi], wk)) | 0;
                lb = (lb + Math.imul(qlb[xi], wk)) | 0;
                abs = (abs + Math.abs(Math.imul(qhb[xi], wk))) | 0;
              }
            }
          }
          const oi = ((b * outC + o) * outH + oy) * outW + ox;
          accHb[oi] = hb;
          accLb[oi] = lb;
          absHb[oi] = abs;
        }
      }
    }
  }
}

function gemmAccumulate(layer: HwLinearLayer, qhb: Int32Array, qlb: Int32Array, k: Int32Array, n: number, accHb: Int32Array, accLb: Int32Array, absHb: Int32Array): void {
  const [kIn] = layer.input_shape;
  const [outN] = layer.output_shape;
  const transB = layer.trans_b === 1;
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < outN; o++) {
      let hb = 0;
      let lb = 0;
      let abs = 0;
      for (let i = 0; i < kIn; i++) {
        const wk = transB ? k[o * kIn + i] : k[i * outN + o];
        hb = (hb + Math.imul(qhb[b * kIn + i], wk)) | 0;
        lb = (lb + Math.imul(qlb[b * kIn + i], wk)) | 0;
        abs = (abs + Math.abs(Math.imul(qhb[b * kIn + i], wk))) | 0;
      }
      accHb[b * outN + o] = hb;
      accLb[b * outN + o] = lb;
      absHb[b * outN + o] = abs;
    }
  }
}
