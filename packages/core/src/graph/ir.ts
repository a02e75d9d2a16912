import type { ConstTensor, DataType } from './tensor.js';

/** An attribute value; ints are JS numbers (ONNX int64 attributes never exceed 2^53 in practice). */
export type AttributeValue =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: ConstTensor }
  | { type: 'graph'; value: Graph }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: number[] }
  | { type: 'strings'; value: string[] }
  /** A function-body attribute that takes its value from the calling node's attribute `refAttrName`. */
  | { type: 'ref'; refAttrName: string; refType: 'float' | 'int' | 'string' | 'floats' | 'ints' | 'strings' | 'tensor' };

export interface Node {
  name: string;
  opType: string;
  /** '' is the default ONNX domain. */
  domain: string;
  /** '' marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attributes: Record<string, AttributeValue>;
  docString?: string;
}

/** A dimension: a fixed size, a named symbolic size (e.g. batch 'N'), or unknown (null). */
export type Dim = number | string | null;

export interface ValueInfo {
  name: string;
  dtype: DataType;
  /** undefined when the rank itself is unknown. */
  shape?: Dim[];
}

export interface Graph {
  name: string;
  nodes: Node[];
  initializers: Map<string, ConstTensor>;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  /** Known types/shapes of intermediate values. */
  valueInfo: Map<string, ValueInfo>;
  docString?: string;
}

export interface OpsetImport {
  domain: string;
  version: number;
}

/** A model-local function (ONNX FunctionProto). */
export interface FunctionDef {
  name: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  /** Names of the attributes the function accepts. */
  attributes: string[];
  nodes: Node[];
  opsetImports: OpsetImport[];
  docString?: string;
}

export interface Model {
  irVersion: number;
  opsetImports: OpsetImport[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  metadata: Record<string, string>;
  graph: Graph;
  functions: FunctionDef[];
  /** The file the model was read from, for error messages and for resolving external data. */
  sourcePath?: string;
}

/** The opset version of the default ONNX domain. */
export function onnxOpset(model: Model): number {
  const imp = model.opsetImports.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  return imp?.version ?? 1;
}
