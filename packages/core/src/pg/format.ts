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
/** Layers quantized statically at B bits (between gated ones), not gated. */
export const Q_CONV = 'QConv';
export const Q_GEMM = 'QGemm';

export const GATED_OPS = [PG_CONV, PG_GEMM] as const;

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
export const QUANT_OPS = [Q_CONV, Q_GEMM] as const;

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
