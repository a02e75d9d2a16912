import type { onnx as P } from 'onnx-proto';
import { InvalidModelError } from '../errors/pg-error.js';
import type { AttributeValue, FunctionDef, Graph, Model, Node } from '../graph/ir.js';
import type { ConstTensor, ExternalRef } from '../graph/tensor.js';
import { describeNode } from './context.js';
import { numberToInt64 } from './int64.js';
import { onnx } from './proto.js';
import { encodeTensor } from './tensor-codec.js';
import { encodeValueInfo } from './value-info.js';

/** Decides, per tensor, whether it is stored inline or in the external data file (returning its place there). */
export type TensorPlacer = (t: ConstTensor, subject: string, isInitializer: boolean) => ExternalRef | undefined;

interface EncodeContext {
  /** Output file (or '<memory>') for messages. */
  label: string;
  irVersion: number;
  place: TensorPlacer;
}

const A = onnx.AttributeProto.AttributeType;
const REF_CODES = { float: A.FLOAT, int: A.INT, string: A.STRING, floats: A.FLOATS, ints: A.INTS, strings: A.STRINGS, tensor: A.TENSOR } as const;

const utf8 = new TextEncoder();

export function encodeModelProto(model: Model, label: string, place: TensorPlacer): P.IModelProto {
  const ctx: EncodeContext = { label, irVersion: model.irVersion, place };
  const proto: P.IModelProto = {
    irVersion: model.irVersion,
    opsetImport: model.opsetImports.map((o) => ({ domain: o.domain, version: o.version })),
    graph: encodeGraph(model.graph, ctx, ''),
  };
  // Empty strings and zeros are the proto defaults; leaving them out keeps files like other exporters'.
  if (model.producerName) proto.producerName = model.producerName;
  if (model.producerVersion) proto.producerVersion = model.producerVersion;
  if (model.domain) proto.domain = model.domain;
  if (model.modelVersion) proto.modelVersion = encodeInt(model.modelVersion, 'model_version', ctx);
  if (model.docString) proto.docString = model.docString;
  const metadata = Object.entries(model.metadata);
  if (metadata.length > 0) proto.metadataProps = metadata.map(([key, value]) => ({ key, value }));
  if (model.functions.length > 0) proto.functions = model.functions.map((f) => encodeFunction(f, ctx));
  return proto;
}

function encodeGraph(g: Graph, ctx: EncodeContext, scope: string): P.IGraphProto {
  const initializer = [...g.initializers].map(([name, t]) => {
    const subject = `${scope}initializer '${name}'`;
    const proto = encodeTensor(t, `${ctx.label}: ${subject}`, ctx.place(t, subject, true));
    proto.name = name; // the map key is the name the graph uses
    return proto;
  });
  const input = g.inputs.map(encodeValueInfo);
  if (ctx.irVersion < 4) {
    // Before IR v4 an initializer had to be listed as a graph input too.
    const listed = new Set(g.inputs.map((v) => v.name));
    for (const [name, t] of g.initializers) {
      if (!listed.has(name)) input.push(encodeValueInfo({ name, dtype: t.dtype, shape: t.dims }));
    }
  }
  const proto: P.IGraphProto = {
    node: g.nodes.map((n, i) => encodeNode(n, i, ctx, scope)),
    name: g.name,
    initializer,
    input,
    output: g.outputs.map(encodeValueInfo),
    valueInfo: [...g.valueInfo.values()].map(encodeValueInfo),
  };
  if (g.docString) proto.docString = g.docString;
  return proto;
}

function encodeNode(n: Node, index: number, ctx: EncodeContext, scope: string): P.INodeProto {
  const subject = `${scope}${describeNode(n, index)}`;
  const proto: P.INodeProto = {
    input: n.inputs,
    output: n.outputs,
    opType: n.opType,
    attribute: Object.entries(n.attributes).map(([name, v]) =>
      encodeAttribute(name, v, `${subject} attribute '${name}'`, ctx, `${scope}subgraph '${name}' of ${describeNode(n, index)}: `),
    ),
  };
  if (n.name) proto.name = n.name;
  if (n.domain) proto.domain = n.domain;
  if (n.docString) proto.docString = n.docString;
  return proto;
}

function encodeAttribute(name: string, v: AttributeValue, subject: string, ctx: EncodeContext, subScope: string): P.IAttributeProto {
  switch (v.type) {
    case 'float':
      return { name, type: A.FLOAT, f: v.value };
    case 'int':
      return { name, type: A.INT, i: encodeInt(v.value, subject, ctx) };
    case 'string':
      return { name, type: A.STRING, s: utf8.encode(v.value) };
    case 'tensor':
      return { name, type: A.TENSOR, t: encodeTensor(v.value, `${ctx.label}: ${subject}`, ctx.place(v.value, subject, false)) };
    case 'graph':
      return { name, type: A.GRAPH, g: encodeGraph(v.value, ctx, subScope) };
    case 'floats':
      return { name, type: A.FLOATS, floats: v.value };
    case 'ints':
      return { name, type: A.INTS, ints: v.value.map((x) => encodeInt(x, subject, ctx)) };
    case 'strings':
      return { name, type: A.STRINGS, strings: v.value.map((s) => utf8.encode(s)) };
    // A function body attribute bound to the calling node's attribute: no value, just the reference and its type.
    case 'ref':
      return { name, type: REF_CODES[v.refType], refAttrName: v.refAttrName };
  }
}

function encodeInt(value: number, subject: string, ctx: EncodeContext): NonNullable<ReturnType<typeof numberToInt64>> {
  const i = numberToInt64(value);
  if (i === undefined) {
    throw new InvalidModelError(`${ctx.label}: ${subject} has the non-integer value ${value} where ONNX needs an int64`, {
      action: 'This is a bug in the code that built the model; please report it.',
    });
  }
  return i;
}

function encodeFunction(f: FunctionDef, ctx: EncodeContext): P.IFunctionProto {
  const scope = `function '${f.domain ? `${f.domain}.` : ''}${f.name}': `;
  const proto: P.IFunctionProto = {
    name: f.name,
    input: f.inputs,
    output: f.outputs,
    attribute: f.attributes,
    node: f.nodes.map((n, i) => encodeNode(n, i, ctx, scope)),
    opsetImport: f.opsetImports.map((o) => ({ domain: o.domain, version: o.version })),
  };
  if (f.domain) proto.domain = f.domain;
  if (f.docString) proto.docString = f.docString;
  return proto;
}
