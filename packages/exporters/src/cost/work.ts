import type { LayerReport } from '@pg/core';

/**
 * Bits of one operand as stored, sign included (docs/cost-models.md, "Signs"): an integer width, or 'float'
 * for a layer (or weight tensor) pg left in floating point.
 */
export type Precision = number | 'float';

/** An operand's width in bits, a float one at the device's float width. */
export function bitWidth(b: Precision, floatBits: number): number {
  return b === 'float' ? floatBits : b;
}

/**
 * One dense or sampled matrix product a layer runs: `macs` multiply-accumulates per sample with activations
 * at `act` bits and weights at `weight` bits. `sampled` marks the update phase, which touches only the
 * outputs whose gate opened (a sampled dense-dense product), so devices price it with their sparse efficiency.
 */
export interface Pass {
  macs: number;
  act: Precision;
  weight: Precision;
  sampled: boolean;
}

/** How the network is run: as measured (`model`) or under one of the reference schemes the report compares with. */
export type Scheme = 'model' | 'static_b' | 'static_8bit' | 'seernet';
export const SCHEMES: readonly Scheme[] = ['model', 'static_b', 'static_8bit', 'seernet'];

/** A report layer reduced to what cost models need. */
export interface LayerWork {
  name: string;
  kind: 'gated' | 'quantized' | 'float';
  macs: number;
  /** B (activation magnitude bits) of gated and quantized layers. */
  bits: number | null;
  /** B_hb of gated layers. */
  hbits: number | null;
  /** 1 when the layer's input can be negative: each activation code stores a sign bit beside its B magnitude bits. */
  sign: 0 | 1;
  /** Weight codes as stored: wbits magnitude bits and a sign, or float. */
  weight: Precision;
  /** Fraction of outputs updated (gated layers; 1 when not measured). */
  updated: number;
  /** A gated layer in SeerNet's form (pg convert --mode seernet): its updated outputs are recomputed at full B. */
  recompute: boolean;
}

/**
 * pg's weight codes have wbits magnitude bits and a sign (--wbits 8: codes in [-255, 255], 9 bits). Weights pg
 * stores as float (wbits null, or 32 as pg convert writes for --wbits 32) count as float.
 */
function weightPrecision(l: LayerReport): Precision {
  return l.wbits === null || l.wbits >= 32 ? 'float' : l.wbits + 1;
}

/** Bits a layer reads in its pass over the top of the code: B_hb (gated) or B (quantized), plus the sign. */
export function predictionBits(l: LayerWork): number {
  return (l.kind === 'gated' ? l.hbits! : l.bits!) + l.sign;
}

/** All bits of a quantized or gated layer's activation codes: B and the sign. */
export function storedBits(l: LayerWork): number {
  return l.bits! + l.sign;
}

export function layerWork(l: LayerReport): LayerWork {
  const kind = l.bits === null ? 'float' : l.gated && l.hbits !== null ? 'gated' : 'quantized';
  return {
    name: l.name,
    kind,
    macs: l.macs,
    bits: l.bits,
    hbits: l.hbits,
    // A report written before pg recorded input_signed has none: its layers count as unsigned.
    sign: l.input_signed ? 1 : 0,
    weight: kind === 'float' ? 'float' : weightPrecision(l),
    updated: l.high_precision_fraction ?? 1,
    recompute: l.gate_mode === 'seernet',
  };
}

/**
 * The passes a layer runs under a scheme (docs/cost-models.md, "Schemes"), every width as stored (sign
 * included). Layers the model keeps float stay float in every scheme, so the ratios compare like with like.
 *  - model, gated: prediction at B_hb (+ sign) over all outputs + update at B_lb = B - B_hb over the updated
 *    fraction f (the sign came with the prediction: a layer whose every output updates costs static B); a
 *    layer in SeerNet's form (recompute) runs the seernet scheme's passes, its own.
 *  - static_b: B-bit activations (+ sign), the model's weights, no gating.
 *  - static_8bit: 8-bit operands as stored (int8 weights, uint8 or int8 activations), no gating.
 *  - seernet, gated: prediction at B_hb (+ sign) over all outputs + the updated fraction f recomputed at full B (+ sign).
 */
export function passes(l: LayerWork, scheme: Scheme): Pass[] {
  if (l.kind === 'float') return [{ macs: l.macs, act: 'float', weight: 'float', sampled: false }];
  if (scheme === 'static_8bit') return [{ macs: l.macs, act: 8, weight: 8, sampled: false }];
  if (l.kind === 'quantized' || scheme === 'static_b') return [{ macs: l.macs, act: storedBits(l), weight: l.weight, sampled: false }];
  const prediction: Pass = { macs: l.macs, act: predictionBits(l), weight: l.weight, sampled: false };
  const update: Pass = { macs: l.macs * l.updated, act: scheme === 'seernet' || l.recompute ? storedBits(l) : l.bits! - l.hbits!, weight: l.weight, sampled: true };
  return [prediction, update];
}
