import type { LayerReport } from '@pg/core';

/** Bits of one operand: an integer width, or 'float' for a layer (or weight tensor) pg left in floating point. */
export type Precision = number | 'float';

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
  /** B (activation bits) of gated and quantized layers. */
  bits: number | null;
  /** B_hb of gated layers. */
  hbits: number | null;
  weight: Precision;
  /** Fraction of outputs updated (gated layers; 1 when not measured). */
  updated: number;
}

/** Weights pg stores as float (wbits null, or 32 as pg convert writes for --wbits 32) count as float. */
function weightPrecision(l: LayerReport): Precision {
  return l.wbits === null || l.wbits >= 32 ? 'float' : l.wbits;
}

export function layerWork(l: LayerReport): LayerWork {
  const kind = l.bits === null ? 'float' : l.gated && l.hbits !== null ? 'gated' : 'quantized';
  return {
    name: l.name,
    kind,
    macs: l.macs,
    bits: l.bits,
    hbits: l.hbits,
    weight: kind === 'float' ? 'float' : weightPrecision(l),
    updated: l.high_precision_fraction ?? 1,
  };
}

/**
 * The passes a layer runs under a scheme (docs/cost-models.md, "Schemes"). Layers the model keeps float stay
 * float in every scheme, so the ratios compare like with like.
 *  - model, gated: prediction at B_hb over all outputs + update at B_lb = B - B_hb over the updated fraction f.
 *  - static_b: B-bit activations, the model's weight bits, no gating.
 *  - static_8bit: 8-bit activations and 8-bit weights, no gating.
 *  - seernet, gated: prediction at B_hb over all outputs + the updated fraction f recomputed at full B.
 */
export function passes(l: LayerWork, scheme: Scheme): Pass[] {
  if (l.kind === 'float') return [{ macs: l.macs, act: 'float', weight: 'float', sampled: false }];
  const bits = l.bits!;
  if (scheme === 'static_8bit') return [{ macs: l.macs, act: 8, weight: 8, sampled: false }];
  if (l.kind === 'quantized' || scheme === 'static_b') return [{ macs: l.macs, act: bits, weight: l.weight, sampled: false }];
  const hbits = l.hbits!;
  const prediction: Pass = { macs: l.macs, act: hbits, weight: l.weight, sampled: false };
  const update: Pass = { macs: l.macs * l.updated, act: scheme === 'seernet' ? bits : bits - hbits, weight: l.weight, sampled: true };
  return [prediction, update];
}
