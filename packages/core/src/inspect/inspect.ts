import type { Model, Node } from '../graph/index.js';
import { foldBatchNormalization, isPgRecurrentLayer, numElements } from '../graph/index.js';
import { upgradeOpset } from '../graph/passes/upgrade-opset.js';
import { UnsupportedModelError } from '../errors/index.js';
import { COST_OPS, macsPerOutput } from '../metrics/layer-cost.js';
import { META, PG_DOMAIN, isPgNode } from '../gating/format.js';
import { actScaleMode, pgLayers, type PgLayer } from '../gating/layers.js';
import { foldNote, placeLayers, type Placement } from '../gating/placement.js';
import { tokenGraphOf, tokenLayers } from '../gating/token-layers.js';
import { addOperandShapes, GATED_MIN_OPSET, gateResidualDefault } from '../gating/convert.js';
import type { OpRegistry } from '../interpreter/registry.js';
import { opRegistry } from '../gating/op-registry.js';
import { probeLayerShapes } from './shapes.js';
import { SupportCheck } from '../interpreter/support.js';
import type { GatedSummary, InspectLayer, InspectResult, OpCount, TensorSummary } from './types.js';

export interface InspectOptions {
  /** Placement as `pg convert --gate-depthwise` would make it. Default false. */
  gateDepthwise?: boolean;
  /** Residual gating as `pg convert --gate-residual` / `--no-gate-residual` would place it. Default true (pg convert's default). */
  gateResidual?: boolean;
  /** Kernels that decide which ops pg can run; pg's (opRegistry) by default. */
  registry?: OpRegistry;
}

const FLOAT_TYPES = new Set(['float32', 'float64', 'float16']);

/** A layer's placement as inspect reports it: the role and its reason. */
const placementOf = (p: Placement | undefined): InspectLayer['placement'] => (p ? { role: p.role, reason: p.reason } : null);

/** A conv/linear layer whose cost pg counts: ONNX Conv/Gemm, or pg's PGConv/PGGemm/QConv/QGemm. */
export function isCostLayer(node: Node): boolean {
  return COST_OPS.has(node.opType) && (node.domain === '' || node.domain === 'ai.onnx' || node.domain === PG_DOMAIN);
}

/**
 * Summarises a model for `pg inspect`: header, inputs and outputs, op counts, the ops pg cannot run,
 * per-layer parameters and MACs per sample, and for each layer what `pg convert` would do (or, for a
 * gated model, its bits). Output shapes come from one run on zeros on the active tfjs backend; an op pg
 * cannot run leaves the layers after it unsized (null) instead of failing.
 */
export function inspectModel(model: Model, opts: InspectOptions = {}): InspectResult {
  const graph = model.graph;
  const support = new SupportCheck(model, opts.registry ?? opRegistry);
  // A transformer's linear layers on tokens are layers too: a MatMul by a constant weight (its bias in the Add after it).
  const tokens = tokenLayers(tokenGraphOf(graph));
  const layerNodes = graph.nodes.filter((n) => isCostLayer(n) || tokens.has(n));
  const gated = graph.nodes.some(isPgNode);
  // What pg convert does by default: the first layer quantized (--first-layer-bits 8).
  const placements = gated ? undefined : convertPlacements(model, opts.gateDepthwise ?? false, opts.gateResidual ?? gateResidualDefault('pg'));
  const pg = new Map(pgLayers(model).map((l) => [l.node, l]));
  const probe = probeLayerShapes(model, layerNodes, support);

  const layers = layerNodes.map((node): InspectLayer => {
    const w = graph.initializers.get(node.inputs[1]);
    const bias = tokens.get(node)?.bias ?? node.inputs[2];
    const b = bias ? graph.initializers.get(bias) : undefined;
    const shape = probe.shapes.get(node);
    const outputs = shape === undefined || probe.source.batch === null ? null : numElements(shape) / probe.source.batch;
    const layer = pg.get(node);
    return {
      name: node.name,
      op: node.opType,
      weight_shape: w ? [...w.dims] : null,
      params: (w ? numElements(w.dims) : 0) + (b ? numElements(b.dims) : 0),
      output_shape: shape ?? null,
      outputs,
      // A PGLSTM/QLSTM's MACs per output are per gate pre-activation: its Y holds one of every 4.
      macs: outputs === null || !w ? null : outputs * macsPerOutput(node, graph) * (isPgRecurrentLayer(node) ? 4 : 1),
      gated: layer?.gated ?? false,
      bits: layer?.bits ?? null,
      hbits: layer?.hbits ?? null,
      wbits: layer?.wbits ?? null,
      placement: placementOf(placements?.get(node)),
    };
  });

  const inputs = graph.inputs.filter((i) => !graph.initializers.has(i.name)).map(tensorSummary);
  let parameters = 0;
  for (const t of graph.initializers.values()) if (FLOAT_TYPES.has(t.dtype)) parameters += numElements(t.dims);

  const unsupportedOps = support.unsupportedOps(graph.nodes);
  return {
    model: model.sourcePath ?? '',
    ir_version: model.irVersion,
    opset_imports: model.opsetImports.map((o) => ({ domain: o.domain, version: o.version })),
    producer: { name: model.producerName, version: model.producerVersion },
    metadata: { ...model.metadata },
    inputs,
    outputs: graph.outputs.map(tensorSummary),
    nodes: graph.nodes.length,
    op_counts: opCounts(graph.nodes),
    unsupported_ops: unsupportedOps,
    parameters,
    macs: layers.every((l) => l.macs !== null) ? layers.reduce((a, l) => a + (l.macs ?? 0), 0) : null,
    gated_mac_fraction: gatedMacFraction(layers),
    shapes: probe.source,
    gated,
    pg: gated ? gatedSummary(model, [...pg.values()]) : null,
    convert_blocker: convertBlocker(model, gated, placements) ?? unsupportedBlocker(unsupportedOps),
    layers,
  };
}

/**
 * What `pg convert` would decide per layer of `model`, keyed by the model's own nodes: placed, as convert
 * does, after folding BatchNormalization into the layers before it.
 */
function convertPlacements(model: Model, gateDepthwise: boolean, gateResidual: boolean): Map<Node, Placement> {
  const bn = foldBatchNormalization(model);
  const valueShape = gateResidual ? addOperandShapes(bn.model) : undefined;
  const placed = placeLayers(bn.model.graph, { include: new Set(), exclude: new Set(), gateDepthwise, quantizeFirstLayer: true, gateResidual, valueShape });
  const result = new Map<Node, Placement>();
  for (const node of model.graph.nodes) {
    const folded = bn.replaced.get(node) ?? node;
    const p = placed.get(folded);
    if (p) result.set(node, { ...p, reason: p.reason + foldNote(folded, bn.folded) });
  }
  return result;
}

/**
 * Gated MACs over all Conv/Gemm MACs: of the placement `pg convert` would make (a float model), or of the
 * gated model's layers; null when a layer could not be sized or there are none.
 */
function gatedMacFraction(layers: readonly InspectLayer[]): number | null {
  if (layers.length === 0 || layers.some((l) => l.macs === null)) return null;
  const total = layers.reduce((a, l) => a + l.macs!, 0);
  const gated = layers.filter((l) => (l.placement ? l.placement.role === 'gate' : l.gated)).reduce((a, l) => a + l.macs!, 0);
  return total > 0 ? gated / total : null;
}

/** `pg convert` refuses a model with an op pg cannot run (the gated model could not be fine-tuned). */
function unsupportedBlocker(ops: readonly { op: string; nodes: string[] }[]): string | null {
  const first = ops[0];
  return first === undefined ? null : `node '${first.nodes[0]}' uses op '${first.op}', which pg cannot run`;
}

function tensorSummary(v: { name: string; dtype: string; shape?: (number | string | null)[] }): TensorSummary {
  return { name: v.name, dtype: v.dtype, shape: v.shape === undefined ? null : [...v.shape] };
}

/** Op types by count, most frequent first, ties by name. */
export function opCounts(nodes: readonly Node[]): OpCount[] {
  const counts = new Map<string, OpCount>();
  for (const n of nodes) {
    const key = `${n.domain}::${n.opType}`;
    const c = counts.get(key) ?? { op: n.opType, domain: n.domain, count: 0 };
    c.count++;
    counts.set(key, c);
  }
  return [...counts.values()].sort((a, b) => b.count - a.count || a.op.localeCompare(b.op) || a.domain.localeCompare(b.domain));
}

function gatedSummary(model: Model, layers: PgLayer[]): GatedSummary {
  const gatedLayers = layers.filter((l) => l.gated);
  const first = gatedLayers[0] ?? layers[0];
  return {
    format_version: model.metadata[META.format] ?? null,
    act_scale: actScaleMode(model),
    bits: first?.bits ?? null,
    hbits: gatedLayers[0]?.hbits ?? null,
    wbits: first?.wbits ?? null,
    gated_layers: gatedLayers.length,
    quantized_layers: layers.length - gatedLayers.length,
  };
}

/** The reasons `convertModel` refuses a model, checked without converting it. */
function convertBlocker(model: Model, gated: boolean, placements: Map<Node, Placement> | undefined): string | null {
  if (gated) return "the model is already gated: 'pg convert' takes the float original";
  // Older opsets are rewritten to the gated models' minimum by convert, except ops it cannot rewrite.
  try {
    upgradeOpset(model, GATED_MIN_OPSET, opRegistry);
  } catch (err) {
    if (err instanceof UnsupportedModelError) return `${err.message} (${err.action})`;
    throw err;
  }
  for (const [node, p] of placements ?? []) {
    if (p.role === 'gate' && !model.graph.initializers.has(node.inputs[1])) {
      return `layer '${node.name}' would be gated but its weight '${node.inputs[1]}' is not a constant; convert it with --exclude '${node.name}'`;
    }
  }
  return null;
}
