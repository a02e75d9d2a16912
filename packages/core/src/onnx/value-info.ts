import type { onnx as P } from 'onnx-proto';
import type { Dim, ValueInfo } from '../graph/ir.js';
import { invalid, unsupported, type DecodeContext } from './context.js';
import { dataTypeFromOnnx, dataTypeToOnnx, onnxTypeName } from '../graph/dtype.js';
import { int64ToSafeNumber } from './int64.js';

/** Why a ValueInfoProto has no IR form: the IR only describes tensors of a known element type. */
export type ValueInfoProblem = 'untyped' | 'non-tensor' | 'unsupported-dtype';

/** The IR form of a ValueInfoProto, or the reason there is none (the caller decides if that is fatal). */
export function decodeValueInfo(vi: P.IValueInfoProto, subject: string, ctx: DecodeContext): ValueInfo | ValueInfoProblem {
  const type = vi.type;
  if (!type) return 'untyped';
  const tensor = type.tensorType;
  if (!tensor) return 'non-tensor';
  const code = tensor.elemType ?? 0;
  if (code === 0) return 'untyped';
  const dtype = dataTypeFromOnnx(code);
  if (dtype === undefined) return 'unsupported-dtype';
  const info: ValueInfo = { name: vi.name ?? '', dtype };
  // No shape field means the rank is unknown; an empty dim list is a scalar.
  if (tensor.shape) info.shape = (tensor.shape.dim ?? []).map((d) => decodeDim(d, subject, ctx));
  return info;
}

function decodeDim(d: P.TensorShapeProto.IDimension, subject: string, ctx: DecodeContext): Dim {
  // proto2 field presence: protobufjs sets own properties only for fields present on the wire.
  if (Object.prototype.hasOwnProperty.call(d, 'dimValue') && d.dimValue !== null && d.dimValue !== undefined) {
    const n = int64ToSafeNumber(d.dimValue);
    // -1 shows up from some exporters for "unknown"; treat every negative size like that.
    if (n === undefined) throw invalid(ctx, `${subject} has an invalid dimension ${String(d.dimValue)}`);
    return n < 0 ? null : n;
  }
  return d.dimParam ? d.dimParam : null;
}

/** Throws the error for a graph input/output that the IR cannot describe. */
export function valueInfoError(problem: ValueInfoProblem, vi: P.IValueInfoProto, subject: string, ctx: DecodeContext, inSubgraph: boolean): Error {
  switch (problem) {
    case 'untyped':
      // ONNX requires types on the main graph's inputs/outputs; subgraphs may omit them, but the IR cannot.
      return inSubgraph
        ? unsupported(
            ctx,
            `${subject} has no type; pg needs the types of subgraph inputs and outputs`,
            'Run ONNX shape inference on the model (onnx.shape_inference.infer_shapes) and retry.',
          )
        : invalid(ctx, `${subject} has no type`);
    case 'non-tensor':
      return unsupported(ctx, `${subject} is a sequence, map, optional or sparse value; pg supports tensors only`, 'Use a model whose inputs and outputs are plain tensors.');
    case 'unsupported-dtype':
      return unsupported(
        ctx,
        `${subject} has element type ${onnxTypeName(vi.type?.tensorType?.elemType ?? 0)}, which pg does not support`,
        'Convert the model to float32 (or another standard type) before using pg.',
      );
  }
}

export function encodeValueInfo(v: ValueInfo): P.IValueInfoProto {
  const tensorType: P.TypeProto.ITensor = { elemType: dataTypeToOnnx(v.dtype) };
  if (v.shape) {
    tensorType.shape = {
      dim: v.shape.map((d): P.TensorShapeProto.IDimension => (typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {})),
    };
  }
  return { name: v.name, type: { tensorType } };
}
