import type { AttributeValue, ConstTensor, Model, Node } from '../graph/index.js';
import { constTensor, onnxOpset } from '../graph/index.js';
import { UnsupportedModelError, UsageError } from '../errors/index.js';
import { isPgRecurrentNode, PG_DOMAIN, PG_LSTM, Q_LSTM, RECURRENT_GATE_RULE_ATTR, actScaleName, thresholdName, type ConversionMode } from './format.js';
import type { Placement } from './placement.js';
import { DEFAULT_RECURRENT_GATE_RULE, type RecurrentGateRule } from './recurrent-gate.js';
import { MIN_RECURRENT_FUNCTION_OPSET } from './recurrent-functions.js';

/** What convert needs to turn a placed LSTM into a PGLSTM (gated) or a QLSTM (quantized). */
export interface RecurrentConversion {
  bits: number;
  hbits: number;
  wbits: number;
  mode: ConversionMode;
  rule?: RecurrentGateRule;
}

/** A converted LSTM: its node and what the placement table says of it (the reason gets the rule). */
export interface ConvertedRecurrent {
  node: Node;
  gated: boolean;
  reason: string;
}

/**
 * An LSTM the placement gates or quantizes, as a PGLSTM/QLSTM (format.ts): LSTM's inputs (absent optional ones
 * as ''), then the threshold [D, 4·H] (gated, starting at 0 as a conv's do) and x's static scale (1 until
 * calibrated). SeerNet's form writes a ReLU's zero, which an LSTM's pre-activations have no use for: refused.
 */
export function convertRecurrent(
  node: Node,
  p: Exclude<Placement, { role: 'float' }>,
  o: RecurrentConversion,
  initializers: Map<string, ConstTensor>,
  where: string,
): ConvertedRecurrent {
  const gated = p.role === 'gate';
  if (gated && o.mode === 'seernet') {
    throw new UsageError(
      `--mode seernet does not apply to the LSTM '${node.name}' of ${where} (SeerNet's closed gate writes a ReLU's zero; an LSTM's pre-activations feed sigmoid and tanh)`,
      {
        action: `use --mode pg or --mode static, or keep the LSTM float with --exclude ${node.name}`,
      },
    );
  }
  const r = initializers.get(node.inputs[2])!;
  const [directions, gateRows] = r.dims;
  const scale = actScaleName(node.name);
  initializers.set(scale, constTensor(scale, 'float32', [], new Float32Array([1])));
  const inputs = Array.from({ length: 8 }, (_, i) => node.inputs[i] ?? '');
  const attributes: Record<string, AttributeValue> = { ...node.attributes, bits: { type: 'int', value: o.bits }, wbits: { type: 'int', value: o.wbits } };
  if (!gated) return { node: { ...node, domain: PG_DOMAIN, opType: Q_LSTM, inputs: [...inputs, scale], attributes }, gated, reason: p.reason };
  const rule = o.rule ?? DEFAULT_RECURRENT_GATE_RULE;
  const thr = thresholdName(node.name);
  initializers.set(thr, constTensor(thr, 'float32', [directions, gateRows], new Float32Array(directions * gateRows)));
  attributes.hbits = { type: 'int', value: o.hbits };
  attributes[RECURRENT_GATE_RULE_ATTR] = { type: 'string', value: rule };
  return {
    node: { ...node, domain: PG_DOMAIN, opType: PG_LSTM, inputs: [...inputs, thr, scale], attributes },
    gated,
    reason: `${p.reason}; gate rule '${rule}'${rule === DEFAULT_RECURRENT_GATE_RULE ? ' (the default)' : ''}`,
  };
}

/**
 * hw-json refuses pg's recurrent layers, naming the first: its layer list describes one integer accumulation per
 * layer whose gate is an integer threshold on it, while a PGLSTM's gate decides per time step inside the
 * recurrence, on the float sum of x's and h's products, between float sigmoid/tanh steps. The ONNX exports carry it.
 */
export function refuseRecurrentExport(model: Model, format: string): void {
  const node = model.graph.nodes.find(isPgRecurrentNode);
  if (!node) return;
  throw new UnsupportedModelError(
    `${model.sourcePath ?? 'the model'}: layer '${node.name}' (${node.opType}) cannot be exported as ${format}: its layer list has no recurrent layer (a gate per time step inside the recurrence, on a float sum of the input's and the state's products, has no integer threshold there)`,
    {
      action: `export it with --format onnx (standard ONNX: a Scan over the steps, with pg's gate decisions) or --format onnx-pg; or convert with --exclude ${node.name} (the LSTM stays float) to describe the rest as ${format}`,
    },
  );
}

/**
 * The pg-format export of a recurrent layer needs its ONNX function, written from MIN_RECURRENT_FUNCTION_OPSET on:
 * below it, refused naming the layer (the standard export raises the opset and carries it).
 */
export function refuseRecurrentFunctionExport(model: Model, format: string): void {
  const node = model.graph.nodes.find(isPgRecurrentNode);
  const opset = onnxOpset(model);
  if (!node || opset >= MIN_RECURRENT_FUNCTION_OPSET) return;
  throw new UnsupportedModelError(
    `${model.sourcePath ?? 'the model'}: layer '${node.name}' (${node.opType}) cannot be exported as ${format} at ONNX opset ${opset}: its function body (a Scan over the steps) is written at opset ${MIN_RECURRENT_FUNCTION_OPSET} or later`,
    {
      action: `export with --format onnx (written at opset ${MIN_RECURRENT_FUNCTION_OPSET} or later), or re-export the float model at opset ${MIN_RECURRENT_FUNCTION_OPSET}+ and convert it again`,
    },
  );
}
