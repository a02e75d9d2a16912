import type { Model, Node } from '../graph/index.js';
import { attrInt } from '../interpreter/attributes.js';
import { META, PG_DOMAIN, PG_RECURRENT_FORMS, RECOMPUTE_ATTR, isGatedNode, isResidualGatedNode, pgRecurrentOp, type ConversionMode, type GatedRecurrentOp } from './format.js';

/** A layer pg inserted into a model: gated (PGConv/PGGemm) or statically quantized (QConv/QGemm). */
export interface PgLayer {
  node: Node;
  gated: boolean;
  bits: number;
  hbits: number | null;
  /** Gated layers in SeerNet's form (format.ts, RECOMPUTE_ATTR): gated-off outputs are zero, the others recomputed at B bits. */
  recompute: boolean;
  wbits: number;
  dynamic: boolean;
  weight: string;
  bias?: string;
  threshold?: string;
  actScale: string;
  /** A residual-gated layer's gate offset (the value its gate adds to the prediction). */
  gateOffset?: string;
  /** A recurrent layer's (PGLSTM/QLSTM, PGGRU/QGRU) recurrence weight R; its `weight` is W and its `bias` B. */
  recurrentWeight?: string;
}

/** Which gate a pg layer has: 'plain', 'residual' (on the sum with its residual), or null when not gated. */
export function gateKind(l: PgLayer | undefined): 'plain' | 'residual' | null {
  return !l?.gated ? null : l.gateOffset !== undefined ? 'residual' : 'plain';
}

export function pgLayers(model: Model): PgLayer[] {
  return model.graph.nodes
    .filter((n) => n.domain === PG_DOMAIN)
    .map((node) => {
      const gated = isGatedNode(node);
      const recurrent = pgRecurrentOp(node);
      if (recurrent) return recurrentLayer(node, recurrent, gated);
      const [, weight, bias] = node.inputs;
      return {
        node,
        gated,
        bits: attrInt(node, 'bits', 0),
        hbits: gated ? attrInt(node, 'hbits', 0) : null,
        recompute: gated && attrInt(node, RECOMPUTE_ATTR, 0) === 1,
        wbits: attrInt(node, 'wbits', 0),
        dynamic: attrInt(node, 'dynamic_scale', 1) === 1,
        weight,
        bias: bias || undefined,
        threshold: gated ? node.inputs[3] : undefined,
        actScale: node.inputs[gated ? 4 : 3],
        ...(isResidualGatedNode(node) ? { gateOffset: node.inputs[5] } : {}),
      };
    });
}

/** A PGLSTM/QLSTM (PGGRU/QGRU): X, W, R, B and LSTM's (GRU's) optional inputs, then (gated) Threshold, then ActScale. */
function recurrentLayer(node: Node, op: GatedRecurrentOp, gated: boolean): PgLayer {
  const own = PG_RECURRENT_FORMS[op].inputs;
  const [, weight, recurrentWeight, bias] = node.inputs;
  return {
    node,
    gated,
    bits: attrInt(node, 'bits', 0),
    hbits: gated ? attrInt(node, 'hbits', 0) : null,
    recompute: false,
    wbits: attrInt(node, 'wbits', 0),
    dynamic: false,
    weight,
    recurrentWeight,
    bias: bias || undefined,
    threshold: gated ? node.inputs[own] : undefined,
    actScale: node.inputs[gated ? own + 1 : own],
  };
}

/** 'dynamic', 'static' or 'static-uncalibrated', as recorded at convert/finetune time. */
export function actScaleMode(model: Model): string {
  return model.metadata[META.actScale] ?? (pgLayers(model).every((l) => l.dynamic) ? 'dynamic' : 'static');
}

/**
 * The conversion mode recorded at convert ('pg' for files from before pg recorded it), or, without the record,
 * what the layers say: a gated layer in SeerNet's form makes it 'seernet'.
 */
export function conversionMode(model: Model): ConversionMode {
  const recorded = model.metadata[META.mode];
  if (recorded === 'pg' || recorded === 'static' || recorded === 'seernet') return recorded;
  return pgLayers(model).some((l) => l.recompute) ? 'seernet' : 'pg';
}
