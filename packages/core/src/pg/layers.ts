import type { Model, Node } from '../graph/index.js';
import { attrInt } from '../runtime/attributes.js';
import { META, PG_DOMAIN, isGatedNode } from './format.js';

/** A layer pg inserted into a model: gated (PGConv/PGGemm) or statically quantized (QConv/QGemm). */
export interface PgLayer {
  node: Node;
  gated: boolean;
  bits: number;
  hbits: number | null;
  wbits: number;
  dynamic: boolean;
  weight: string;
  bias?: string;
  threshold?: string;
  actScale: string;
}

export function pgLayers(model: Model): PgLayer[] {
  return model.graph.nodes
    .filter((n) => n.domain === PG_DOMAIN)
    .map((node) => {
      const gated = isGatedNode(node);
      const [, weight, bias] = node.inputs;
      return {
        node,
        gated,
        bits: attrInt(node, 'bits', 0),
        hbits: gated ? attrInt(node, 'hbits', 0) : null,
        wbits: attrInt(node, 'wbits', 0),
        dynamic: attrInt(node, 'dynamic_scale', 1) === 1,
        weight,
        bias: bias || undefined,
        threshold: gated ? node.inputs[3] : undefined,
        actScale: node.inputs[gated ? 4 : 3],
      };
    });
}

/** 'dynamic', 'static' or 'static-uncalibrated', as recorded at convert/finetune time. */
export function actScaleMode(model: Model): string {
  return model.metadata[META.actScale] ?? (pgLayers(model).every((l) => l.dynamic) ? 'dynamic' : 'static');
}
