import { constTensor, type AttributeValue, type ConstTensor, type DataType, type Dim, type Model, type Node, type ValueInfo } from '../../src/graph/index.js';

// Small in-memory models for core's tests: the IR boilerplate (IR version, opset import, producer) in one
// place, so a test shows only the nodes and tensors it is about.

export const ints = (value: number[]): AttributeValue => ({ type: 'ints', value });
export const int = (value: number): AttributeValue => ({ type: 'int', value });
export const float = (value: number): AttributeValue => ({ type: 'float', value });

/** A default-domain node; named after its first output unless `name` is given. */
export function node(opType: string, inputs: string[], outputs: string | string[], attributes: Record<string, AttributeValue> = {}, name?: string): Node {
  const outs = typeof outputs === 'string' ? [outputs] : outputs;
  return { name: name ?? outs[0], opType, domain: '', inputs, outputs: outs, attributes };
}

/** A graph input or output; without `shape` the rank is unknown. */
export function valueInfo(name: string, shape?: Dim[], dtype: DataType = 'float32'): ValueInfo {
  return shape === undefined ? { name, dtype } : { name, dtype, shape };
}

/** float32 values sin(i·step + seed)·scale: deterministic, of both signs, different per seed. */
export function sineTensor(name: string, dims: number[], seed: number, { step = 0.7, scale = 1 } = {}): ConstTensor {
  const n = dims.reduce((a, b) => a * b, 1);
  return constTensor(
    name,
    'float32',
    dims,
    Float32Array.from({ length: n }, (_, i) => Math.sin(i * step + seed) * scale),
  );
}

export const floatScalar = (name: string, value: number): ConstTensor => constTensor(name, 'float32', [], Float32Array.from([value]));
export const int64s = (name: string, values: number[]): ConstTensor => constTensor(name, 'int64', [values.length], BigInt64Array.from(values.map(BigInt)));
export const int64Scalar = (name: string, value: number): ConstTensor => constTensor(name, 'int64', [], BigInt64Array.from([BigInt(value)]));

export interface ModelSpec extends Partial<Omit<Model, 'graph'>> {
  nodes?: Node[];
  initializers?: ConstTensor[];
  inputs?: ValueInfo[];
  outputs?: ValueInfo[];
  valueInfo?: ValueInfo[];
  /** Version of the default ONNX domain (13 unless given); `opsetImports` replaces it. */
  opset?: number;
  graphName?: string;
  graphDocString?: string;
}

/** A model with IR version 8 and producer 'pg-test' unless the spec says otherwise. */
export function buildModel(spec: ModelSpec): Model {
  const { nodes = [], initializers = [], inputs = [], outputs = [], valueInfo: infos = [], opset = 13, graphName = 'g', graphDocString, ...top } = spec;
  return {
    irVersion: 8,
    opsetImports: [{ domain: '', version: opset }],
    producerName: 'pg-test',
    producerVersion: '',
    domain: '',
    modelVersion: 0,
    docString: '',
    metadata: {},
    functions: [],
    ...top,
    graph: {
      name: graphName,
      ...(graphDocString === undefined ? {} : { docString: graphDocString }),
      nodes,
      initializers: new Map(initializers.map((t) => [t.name, t])),
      inputs,
      outputs,
      valueInfo: new Map(infos.map((v) => [v.name, v])),
    },
  };
}

/**
 * A model as plain data (tensor contents read, Maps as entry lists, `sourcePath` dropped) so toEqual can
 * compare two decodes; `omit` drops further keys such as 'external'.
 */
export function plainModel(x: unknown, omit: readonly string[] = []): unknown {
  if (x instanceof Map) return [...x].map(([k, v]) => [k, plainModel(v, omit)]);
  if (Array.isArray(x)) return x.map((v) => plainModel(v, omit));
  if (ArrayBuffer.isView(x)) return x;
  if (x !== null && typeof x === 'object') {
    return Object.fromEntries(
      Object.entries(x)
        .filter(([k]) => k !== 'sourcePath' && !omit.includes(k))
        .map(([k, v]) => [k, typeof v === 'function' ? plainModel((v as () => unknown)(), omit) : plainModel(v, omit)]),
    );
  }
  return x;
}
