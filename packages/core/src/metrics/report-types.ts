import type { LayerPrecision } from '../gating/convert.js';
import type { ConversionMode } from '../gating/format.js';

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
  /**
   * The layer's input can be negative, decided from the graph (not from data: docs/cost-models.md, "Signs"):
   * its activation codes then carry a sign bit beside their magnitude bits.
   */
  input_signed: boolean;
  /** Fraction of this layer's outputs that took the low-bit update (gated layers), over the data set. */
  high_precision_fraction: number | null;
  threshold: ThresholdStats | null;
  /** Gated layers: the threshold Δ of every output channel, in channel order (histograms, exclusion decisions). */
  threshold_per_channel: number[] | null;
}

/** A layer's figures that do not depend on the data: everything but its updated fraction. */
export type LayerFacts = Omit<LayerReport, 'high_precision_fraction'>;

/**
 * What a report pass found that does not depend on which samples it ran: the model's layers and other ops,
 * its bit widths and scale mode, and the decision maps of the first samples. Two shards of one evaluation have
 * the same facts (the maps come from the shard holding the first batch).
 */
export interface ReportFacts {
  model: string;
  data: string;
  act_scale: string;
  /** The conversion mode (ReportResult.mode); null for a float model. */
  mode: ConversionMode | null;
  bits: number | null;
  hbits: number | null;
  wbits: number | null;
  layers: LayerFacts[];
  other_ops: OtherOpCount[];
  decision_maps?: DecisionMaps;
  /** A language model's (labels per step): the unit its perplexity is per (the model's pg.lm_unit, else 'token'). */
  perplexity_unit?: string;
}

/**
 * What a report pass counted, as exact integers: the figures of `pg report` are computed from these
 * (reportFromCounts), so the counts of shards add up to the counts of the whole pass and a merged report is
 * the unsharded one, not an average of averages.
 */
export interface ReportCounts {
  samples: number;
  /** Labels whose predicted class was the label. */
  correct: number;
  /** Labels scored: one per sample, or one per step for a language model. */
  scored: number;
  /** A language model's summed negative log-likelihood of its labels (natural log); absent for a classifier. */
  nll?: number;
  skipped_files: number;
  /** Per layer of `ReportFacts.layers` (same order): output elements that took the low-bit update (gated layers), else null. */
  updated: Array<number | null>;
  /** With a baseline: its samples and correct predictions over the same data. */
  baseline?: { samples: number; correct: number; scored: number; nll?: number };
  /** With --per-layer-sensitivity: per gated layer, correct predictions with it alone at full precision and alone at prediction bits. */
  sensitivity?: Array<{ layer: string; full_precision: number; prediction_only: number }>;
}

/** One input sample shown in the decision maps. */
export interface DecisionSample {
  /** Position of the sample in the data set (file order). */
  index: number;
  label: number | null;
  predicted: number;
  /** The input as a picture: channel mean, scaled to [0, 1], row-major `height × width`; null for non-image inputs. */
  image: { height: number; width: number; pixels: number[] } | null;
}

/** Which outputs of one gated layer took the high-precision update, per shown sample. */
export interface DecisionMap {
  layer: string;
  /** 'conv': a map of output positions; 'linear': a gated Gemm's output units as one row. */
  kind: 'conv' | 'linear';
  /** Spatial size of a conv's output; 1 × C (output units) for a linear layer. */
  height: number;
  width: number;
  /**
   * Per sample (same order as `DecisionMaps.samples`), row-major `height × width`: for a conv the fraction of
   * channels updated at that position; for a linear layer 1 where that output unit was updated, else 0.
   */
  fractions: number[][];
}

export interface DecisionMaps {
  samples: DecisionSample[];
  layers: DecisionMap[];
}

/** Ops other than the Conv/Gemm layers (pools, adds, activations...), per op type: their work per sample. */
export interface OtherOpCount {
  /** Op type ('domain.Op' outside the default domain). */
  op: string;
  /** Nodes of this op type. */
  nodes: number;
  /** Operations per sample (docs/cost-models.md, "Other ops"). */
  ops: number;
}

export interface ReportResult {
  model: string;
  data: string;
  samples: number;
  /** Files of the data that could not be read and were skipped (image folders with --skip-bad); 0 otherwise. */
  skipped_files: number;
  /** Top-1 accuracy over the labels: one per sample, or one per step (next-token accuracy) for a language model. */
  accuracy: number;
  baseline_accuracy?: number;
  accuracy_drop?: number;
  /**
   * Language models (data with a label per step): exp of the mean negative log-likelihood of the labels, per
   * `perplexity_unit` (the model's pg.lm_unit metadata: 'char', 'word', else 'token').
   */
  perplexity?: number;
  perplexity_unit?: string;
  /** With a baseline: its perplexity on the same data, and this model's relative increase (0.01: 1% worse). */
  baseline_perplexity?: number;
  perplexity_increase?: number;
  /**
   * The whole network (every Conv/Gemm layer, and the other ops in `bitops`): the headline figures. Core
   * measures; the figures are priced on the bit-serial device model, so whoever prices the report attaches
   * them (pg report and pg sweep always do).
   */
  whole_model?: WholeModel;
  /** Fraction of gated-layer output elements whose update was skipped (gated layers only: the paper's Sp). */
  sparsity: number;
  /** The same, each output weighted by the MACs its update costs (gated layers only). */
  sparsity_mac_weighted: number;
  /** B_hb + (1 - Sp) * B_lb over the gated layers only (the paper's B_avg). */
  bavg: number | null;
  /** Activation scale mode: 'dynamic' (per-sample max, the paper's) or 'static' (calibrated, for integer hardware). */
  act_scale: string;
  /**
   * How the layers the method gates were converted (pg convert --mode): 'pg' gated, 'static' quantized at B bits
   * without gates, 'seernet' gated in SeerNet's form; null for a float model.
   */
  mode: ConversionMode | null;
  bits: number | null;
  hbits: number | null;
  wbits: number | null;
  layers: LayerReport[];
  /** Every other op of the network, by op type, with its operations per sample (priced by --cost). */
  other_ops: OtherOpCount[];
  /** With `decisionMaps: N`: the gate decisions of every gated layer for the first N samples. */
  decision_maps?: DecisionMaps;
  /** With --cost: one entry per cost model. */
  costs?: CostReport[];
  /** With --per-layer-sensitivity: one entry per gated layer. */
  sensitivity?: LayerSensitivity[];
  /** With --fail-if: every condition and whether it failed the run. */
  gates?: GateCheck[];
}

/**
 * The whole network's figures, over every Conv/Gemm layer (gated, quantized and float). Widths are stored
 * bits with the sign (docs/cost-models.md, "Signs"); a float operand counts the bit-serial profile's
 * float_bits. `bitops*` are the bit-serial device model's whole-network cost (layers and other ops) and its
 * ratios, as `costs[]` gives them for `bit-serial`. A layer kind is priced by its passes (prediction, update,
 * recompute), so another scheme of gating reports through the same fields.
 */
export interface WholeModel {
  /** Multiply-accumulates per sample of all Conv/Gemm layers. */
  macs: number;
  /** Share of those MACs in layers with a gate; null without Conv/Gemm layers. */
  gated_mac_fraction: number | null;
  /**
   * Activation bits streamed per MAC, MAC-weighted over all layers: a gated layer B_hb + sign + f·B_lb (f its
   * updated fraction), a quantized layer B + sign, a float layer float_bits. Null without Conv/Gemm layers.
   */
  act_bits: number | null;
  /** Weight bits per MAC, MAC-weighted over all layers: wbits + 1 (the sign), float_bits for float weights. */
  weight_bits: number | null;
  /** Bit-serial BitOps per sample of the whole network (layers and other ops). */
  bitops: number;
  /** bitops over the same network statically quantized at B bits (no gating): below 1, cheaper. */
  bitops_vs_static_b: number;
  /** bitops over the same network with every quantized layer at 8-bit operands. */
  bitops_vs_static_8bit: number;
  /** bitops over a SeerNet-style predictor (prediction at B_hb, updated outputs recomputed at B). */
  bitops_vs_seernet: number;
  /** The bit-serial profile the widths and BitOps come from (bundled:bit-serial or a --profile file). */
  profile: string;
}

/**
 * One device model's cost of the network (`pg report --cost`), whole network (gated, quantized and float
 * layers), in the model's unit; the baselines are the same network's cost under reference schemes, same unit.
 * Formulas: docs/cost-models.md.
 */
export interface CostReport {
  /** Cost model name (e.g. 'bit-serial'). */
  backend: string;
  unit: 'bitops' | 'cycles';
  total: number;
  per_layer: Array<{ name: string; cost: number }>;
  /** The other ops (pools, adds, activations...): operations per sample and their cost, the same in every scheme. */
  other_ops: { ops: number; cost: number };
  baselines: {
    /** Every quantized layer statically at its B bits (no gating). */
    static_b: number;
    /** Every quantized layer statically at 8 bits. */
    static_8bit: number;
    /** SeerNet-style: prediction at B_hb, then the updated outputs recomputed at full B. */
    seernet: number;
  };
  /** total / each baseline (below 1: this model is cheaper). */
  ratios: { vs_static_b: number; vs_static_8bit: number; vs_seernet: number };
  /** The device profile the parameters came from: a bundled name or a file path. */
  profile: string;
  notes: string[];
}

/** `--per-layer-sensitivity`: accuracy with only this gated layer forced to one precision. */
export interface LayerSensitivity {
  layer: string;
  /** This layer's gate always on (every output updated to B bits), the others as trained. */
  accuracy_full_precision: number;
  /** This layer's gate always off (prediction bits B_hb only), the others as trained. */
  accuracy_prediction_only: number;
}

/** One `--fail-if` condition and its outcome. */
export interface GateCheck {
  /** The expression as given, e.g. 'accuracy_drop>0.01'. */
  expression: string;
  field: string;
  op: '>' | '>=' | '<' | '<=' | '==' | '!=';
  threshold: number;
  /** The field's value in this report; null when the report has no such value (e.g. bavg of a float model). */
  value: number | null;
  /** True when the condition holds, i.e. the gate fails the run. */
  failed: boolean;
}
