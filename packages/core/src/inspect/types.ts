import type { Dim } from '../graph/index.js';
import type { Placement } from '../gating/placement.js';

/** A model input or output as declared: symbolic dimensions keep their names (e.g. 'N'), unknown ones are null. */
export interface TensorSummary {
  name: string;
  dtype: string;
  /** null when the model does not declare the rank. */
  shape: Dim[] | null;
}

/** How many nodes of one op type the graph has. */
export interface OpCount {
  op: string;
  /** '' for the default ONNX domain. */
  domain: string;
  count: number;
}

/** An op type pg cannot run, with the nodes that use it. */
export interface UnsupportedOp extends OpCount {
  nodes: string[];
  reason: string;
}

/** How the per-layer output shapes (and so the MACs) were found. */
export interface ShapeSource {
  /** 'executed': the model ran once on zeros; 'unavailable': it could not (see `note`). */
  method: 'executed' | 'unavailable';
  /** The batch size the model ran at (1 for a symbolic batch dimension), or null. */
  batch: number | null;
  /** Why shapes are missing, or which layers could not be sized; null when all were. */
  note: string | null;
}

/** A Conv/Gemm layer, plain (Conv, Gemm) or inserted by pg (PGConv, PGGemm, QConv, QGemm). */
export interface InspectLayer {
  name: string;
  op: string;
  /** Dimensions of the weight, or null when the weight is not a constant. */
  weight_shape: number[] | null;
  /** Elements of the weight and bias. */
  params: number;
  /** Output shape at `shapes.batch`, or null when it could not be found. */
  output_shape: number[] | null;
  /** Output elements per sample, or null. */
  outputs: number | null;
  /** Multiply-accumulates per sample (outputs × reduction length), or null. */
  macs: number | null;
  /** Current precision: gated (PGConv/PGGemm), or the activation bits of a pg layer; null bits for a float layer. */
  gated: boolean;
  bits: number | null;
  hbits: number | null;
  wbits: number | null;
  /** What `pg convert` would do with this layer, or null when it would not convert the model (a gated model). */
  placement: Pick<Placement, 'role' | 'reason'> | null;
}

/** pg's settings of a gated model, from its metadata and layers. */
export interface GatedSummary {
  format_version: string | null;
  act_scale: string;
  bits: number | null;
  hbits: number | null;
  wbits: number | null;
  gated_layers: number;
  quantized_layers: number;
}

/** `pg inspect` result: what a model is and what pg would do with it. */
export interface InspectResult {
  model: string;
  ir_version: number;
  opset_imports: { domain: string; version: number }[];
  producer: { name: string; version: string };
  metadata: Record<string, string>;
  inputs: TensorSummary[];
  outputs: TensorSummary[];
  /** Nodes in the main graph. */
  nodes: number;
  /** Op types by count (most frequent first, then by name). */
  op_counts: OpCount[];
  /** Op types pg cannot run; empty when pg runs the whole model. */
  unsupported_ops: UnsupportedOp[];
  /** Elements of all floating-point initializers (weights, biases, normalisation statistics, pg's thresholds and scales). */
  parameters: number;
  /** Total MACs per sample of the layers, or null when some layer could not be sized. */
  macs: number | null;
  shapes: ShapeSource;
  /** Whether the model holds pg layers. */
  gated: boolean;
  /**
   * Gated MACs over all Conv/Gemm MACs per sample: for a float model, of the placement `pg convert` would make
   * (with the same placement flags); for a gated model, of its gated layers. Null when a layer is unsized.
   */
  gated_mac_fraction: number | null;
  /** pg's settings when gated, else null. */
  pg: GatedSummary | null;
  /** Why `pg convert` would refuse the model, or null when it would convert it. */
  convert_blocker: string | null;
  layers: InspectLayer[];
}
