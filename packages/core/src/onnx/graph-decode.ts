import type { onnx as P } from 'onnx-proto';
import type { AttributeValue, FunctionDef, Graph, Node, OpsetImport, ValueInfo } from '../graph/ir.js';
import type { ConstTensor } from '../graph/tensor.js';
import { describeNode, invalid, unsupported, type DecodeContext } from './context.js';
import { int64ToNumber, int64ToSafeNumber, type Int64 } from './int64.js';
import { onnx } from './proto.js';
import { decodeTensor } from './tensor-codec.js';
import { decodeValueInfo, valueInfoError } from './value-info.js';

const utf8 = new TextDecoder();

const A = onnx.AttributeProto.AttributeType;

/**
 * `scope` is prepended to subjects inside subgraphs and functions, e.g. "subgraph 'body' of node 'loop' (Loop): ",
 * so a message points at the right one of several nodes with the same name.
 */
export function decodeGraph(g: P.IGraphProto, ctx: DecodeContext, scope = ''): Graph {
  const inSubgraph = scope !== '';
  if ((g.sparseInitializer ?? []).length > 0) {
    throw unsupported(ctx, `${scope}graph '${g.name ?? ''}' has sparse initializers, which pg does not support`, 'Convert the sparse initializers to dense ones before using pg.');
  }

  const initializers = new Map<string, ConstTensor>();
  for (const t of g.initializer ?? []) {
    const name = t.name ?? '';
    const subject = `${scope}initializer '${name}'`;
    if (!name) throw invalid(ctx, `${scope}an initializer has no name`);
    if (initializers.has(name)) throw invalid(ctx, `${scope}initializer name '${name}' is used twice`);
    initializers.set(name, decodeTensor(t, subject, ctx));
  }

  const io = (list: P.IValueInfoProto[] | null | undefined, kind: string): ValueInfo[] =>
    (list ?? []).map((vi) => {
      const subject = `${scope}graph ${kind} '${vi.name ?? ''}'`;
      const info = decodeValueInfo(vi, subject, ctx);
      if (typeof info === 'string') throw valueInfoError(info, vi, subject, ctx, inSubgraph);
      return info;
    });
  // Before IR v4 every initializer also had to be a graph input; those are weights, not inputs.
  const inputs = io(
    (g.input ?? []).filter((vi) => !initializers.has(vi.name ?? '')),
    'input',
  );
  const outputs = io(g.output, 'output');

  const valueInfo = new Map<string, ValueInfo>();
  for (const vi of g.valueInfo ?? []) {
    // value_info is only a hint; entries the IR cannot describe (sequences, untyped) are dropped.
    const info = decodeValueInfo(vi, `${scope}value_info '${vi.name ?? ''}'`, ctx);
    if (typeof info !== 'string') valueInfo.set(info.name, info);
  }

  const nodes = (g.node ?? []).map((n, i) => decodeNode(n, i, ctx, scope));
  checkSingleAssignment(
    nodes,
    [...initializers.keys()],
    inputs.map((v) => v.name),
    ctx,
    scope,
  );

  const graph: Graph = { name: g.name ?? '', nodes, initializers, inputs, outputs, valueInfo };
  if (g.docString) graph.docString = g.docString;
  return graph;
}

/** ONNX graphs are in SSA form: every value is produced once, by a node, an initializer or an input. */
function checkSingleAssignment(nodes: Node[], initializers: string[], inputs: string[], ctx: DecodeContext, scope: string): void {
  const producers = new Map<string, string>();
  for (const name of initializers) producers.set(name, 'an initializer');
  for (const name of inputs) {
    if (producers.has(name)) throw invalid(ctx, `${scope}input '${name}' is listed twice`);
    producers.set(name, 'an input');
  }
  nodes.forEach((n, i) => {
    for (const out of n.outputs) {
      if (out === '') continue; // omitted optional output
      const prev = producers.get(out);
      if (prev !== undefined) throw invalid(ctx, `${scope}${describeNode(n, i)} writes output '${out}', which is already produced by ${prev}`);
      producers.set(out, describeNode(n, i));
    }
  });
}

export function decodeNode(n: P.INodeProto, index: number, ctx: DecodeContext, scope: string): Node {
  const subject = `${scope}${describeNode(n, index)}`;
  if (!n.opType) throw invalid(ctx, `${subject} has no op_type`);
  const attributes: Record<string, AttributeValue> = {};
  for (const a of n.attribute ?? []) {
    const name = a.name ?? '';
    if (!name) throw invalid(ctx, `${subject} has an attribute without a name`);
    if (Object.prototype.hasOwnProperty.call(attributes, name)) throw invalid(ctx, `${subject} has attribute '${name}' twice`);
    attributes[name] = decodeAttribute(a, `${subject} attribute '${name}'`, ctx, `${scope}subgraph '${name}' of ${describeNode(n, index)}: `);
  }
  const node: Node = {
    name: n.name ?? '',
    opType: n.opType,
    // 'ai.onnx' is an alias of the default domain; one spelling keeps op lookups simple.
    domain: n.domain === 'ai.onnx' ? '' : (n.domain ?? ''),
    inputs: [...(n.input ?? [])],
    outputs: [...(n.output ?? [])],
    attributes,
  };
  if (n.docString) node.docString = n.docString;
  return node;
}

const REF_TYPES = { [A.FLOAT]: 'float', [A.INT]: 'int', [A.STRING]: 'string', [A.FLOATS]: 'floats', [A.INTS]: 'ints', [A.STRINGS]: 'strings', [A.TENSOR]: 'tensor' } as const;

function decodeAttribute(a: P.IAttributeProto, subject: string, ctx: DecodeContext, subScope: string): AttributeValue {
  const type = a.type || inferAttributeType(a);
  if (a.refAttrName) {
    const refType = REF_TYPES[type as keyof typeof REF_TYPES];
    if (refType === undefined) throw unsupportedAttr(subject, type, ctx);
    return { type: 'ref', refAttrName: a.refAttrName, refType };
  }
  switch (type) {
    case A.FLOAT:
      return { type: 'float', value: a.f ?? 0 };
    case A.INT:
      return { type: 'int', value: int64ToNumber((a.i ?? 0) as Int64) };
    case A.STRING:
      return { type: 'string', value: utf8.decode(a.s ?? new Uint8Array()) };
    case A.TENSOR:
      if (!a.t) throw invalid(ctx, `${subject} is a tensor attribute without a tensor`);
      return { type: 'tensor', value: decodeTensor(a.t, `${subject} tensor`, ctx) };
    case A.GRAPH:
      if (!a.g) throw invalid(ctx, `${subject} is a graph attribute without a graph`);
      return { type: 'graph', value: decodeGraph(a.g, ctx, subScope) };
    case A.FLOATS:
      return { type: 'floats', value: [...(a.floats ?? [])] };
    case A.INTS:
      return { type: 'ints', value: (a.ints ?? []).map((v) => int64ToNumber(v as Int64)) };
    case A.STRINGS:
      return { type: 'strings', value: (a.strings ?? []).map((s) => utf8.decode(s)) };
    case 0:
      throw invalid(ctx, `${subject} has no type and no value`);
    default:
      throw unsupportedAttr(subject, type, ctx);
  }
}

function unsupportedAttr(subject: string, type: number, ctx: DecodeContext): Error {
  return unsupported(
    ctx,
    `${subject} has type ${A[type] ?? type}, which pg does not support`,
    'Use a model without this attribute kind (sparse tensors, type protos, tensor or graph lists).',
  );
}

/** Very old exporters (IR v1) leave `type` unset; the one value field present tells it. */
function inferAttributeType(a: P.IAttributeProto): number {
  const has = (k: keyof P.IAttributeProto) => Object.prototype.hasOwnProperty.call(a, k);
  if (has('f')) return A.FLOAT;
  if (has('i')) return A.INT;
  if (has('s')) return A.STRING;
  if (has('t')) return A.TENSOR;
  if (has('g')) return A.GRAPH;
  if ((a.floats ?? []).length) return A.FLOATS;
  if ((a.ints ?? []).length) return A.INTS;
  if ((a.strings ?? []).length) return A.STRINGS;
  return 0;
}

export function decodeOpsets(list: P.IOperatorSetIdProto[] | null | undefined, subject: string, ctx: DecodeContext): OpsetImport[] {
  return (list ?? []).map((o) => {
    const version = int64ToSafeNumber((o.version ?? 0) as Int64);
    if (version === undefined || version < 0) throw invalid(ctx, `${subject} imports opset '${o.domain ?? ''}' with invalid version ${String(o.version)}`);
    return { domain: o.domain ?? '', version };
  });
}

export function decodeFunction(f: P.IFunctionProto, ctx: DecodeContext): FunctionDef {
  const scope = `function '${f.domain ? `${f.domain}.` : ''}${f.name ?? ''}': `;
  if (!f.name) throw invalid(ctx, 'a model-local function has no name');
  const nodes = (f.node ?? []).map((n, i) => decodeNode(n, i, ctx, scope));
  checkSingleAssignment(nodes, [], f.input ?? [], ctx, scope);
  const fn: FunctionDef = {
    name: f.name,
    domain: f.domain ?? '',
    inputs: [...(f.input ?? [])],
    outputs: [...(f.output ?? [])],
    attributes: [...(f.attribute ?? [])],
    nodes,
    opsetImports: decodeOpsets(f.opsetImport, scope.slice(0, -2), ctx),
  };
  if (f.docString) fn.docString = f.docString;
  return fn;
}
