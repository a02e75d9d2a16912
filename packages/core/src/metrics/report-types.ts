import type { LayerPrecision } from '../pg/convert.js';

export interface ThresholdStats {
  min: number;
  mean: number;
  max: number;
  std: number;
}

/** A layer's figures; `op` is 'PGConv' | 'PGGemm' | 'QConv' | 'QGemm' | 'Conv' | 'Gemm'. */
export interface LayerReport extends LayerPrecision {
  /** Multiply-accumulates per sample. */
  macs: number;
  /** Output elements per sample. */
  outputs: number;
  /** Fraction of this layer's outputs that took the low-bit update (gated layers), over the data set. */
  high_precision_fraction: number | null;
  threshold: ThresholdStats | null;
}

export interface ReportResult {
  model: string;
  data: string;
  samples: number;
  accuracy: number;
  baseline_accuracy?: number;
  accuracy_drop?: number;
  /** Fraction of gated-layer output elements whose update was skipped. */
  sparsity: number;
  /** The same, each output weighted by the MACs its update costs. */
  sparsity_mac_weighted: number;
  /** B_hb + (1 - Sp) * B_lb over the gated layers. */
  bavg: number | null;
  /** Activation scale mode: 'dynamic' (per-sample max, the paper's) or 'static' (calibrated, for integer hardware). */
  act_scale: string;
  bits: number | null;
  hbits: number | null;
  wbits: number | null;
  /** B / B_avg: compute reduction against a static B-bit model, bit-serial view. */
  compute_reduction: number | null;
  layers: LayerReport[];
}
