import { basename, dirname, join, resolve } from 'node:path';
import type { onnx as P } from 'onnx-proto';
import { UnsupportedModelError } from '../errors/pg-error.js';
import type { Model } from '../graph/ir.js';
import type { ConstTensor, ExternalRef } from '../graph/tensor.js';
import { writeFilesAtomic, type FileToWrite } from '../io/atomic-write.js';
import { repointExternal } from './external-data.js';
import { encodeModelProto, type TensorPlacer } from './graph-encode.js';
import { onnx } from './proto.js';
import { tensorByteLength, tensorStorageBytes } from './tensor-codec.js';

export interface WriteModelOptions {
  /**
   * Where tensor bytes go:
   * - 'keep' (default): tensors that carry an `external` ref go to the data file, the rest inline;
   * - 'inline': everything inline (one self-contained file, limited to 2 GiB by protobuf);
   * - 'all': like 'keep', plus every initializer of at least `threshold` bytes.
   */
  externalData?: 'keep' | 'inline' | 'all';
  /** Size in bytes from which 'all' moves an initializer to the data file. Default 1024. */
  threshold?: number;
}

export interface WriteModelResult {
  modelPath: string;
  /** The external data file, when one was written. */
  dataPath?: string;
  externalTensors: number;
}

/** Offsets in the data file are multiples of this, so runtimes can memory-map each tensor (page size). */
export const EXTERNAL_DATA_ALIGNMENT = 4096;

const PROTOBUF_LIMIT = 2 ** 31 - 1;

/** A self-contained ONNX encoding of the model: every tensor inline, external ones read in. */
export function encodeModel(model: Model): Uint8Array {
  return encodeWith(model, '<memory>', () => undefined);
}

/**
 * Writes the model atomically. External tensors go to `<model file name>.data` next to the model
 * (e.g. model.onnx.data), each at a 4096-aligned offset; both files are replaced together.
 */
export async function writeModel(model: Model, path: string, options: WriteModelOptions = {}): Promise<WriteModelResult> {
  const mode = options.externalData ?? 'keep';
  const threshold = options.threshold ?? 1024;
  const dataName = `${basename(path)}.data`;
  const dataPath = join(dirname(resolve(path)), dataName);
  const layout = new DataFileLayout(dataName);

  const place: TensorPlacer = (t, subject, isInitializer) => {
    const bytes = tensorByteLength(t);
    // Strings cannot be external in ONNX; empty tensors gain nothing from it.
    if (mode === 'inline' || bytes === undefined || bytes === 0) return undefined;
    if (t.external !== undefined || (mode === 'all' && isInitializer && bytes >= threshold)) return layout.add(t, subject, bytes);
    return undefined;
  };
  const modelChunks = encodeChunks(checkedProto(model, path, place));

  const files: FileToWrite[] = [];
  if (layout.entries.length > 0) files.push({ path: dataPath, data: layout.chunks(path) });
  files.push({ path, data: modelChunks });
  await writeFilesAtomic(files);

  // Unread external tensors now find their bytes in the new file (the old one may have been replaced).
  for (const e of layout.entries) repointExternal(e.tensor, dataPath, e.offset);
  return {
    modelPath: resolve(path),
    ...(layout.entries.length > 0 ? { dataPath } : {}),
    externalTensors: layout.entries.length,
  };
}

function encodeWith(model: Model, label: string, place: TensorPlacer): Uint8Array {
  return onnx.ModelProto.encode(checkedProto(model, label, place)).finish();
}

/** The model's proto, refusing more inline tensor bytes than one protobuf file can hold. */
function checkedProto(model: Model, label: string, place: TensorPlacer): P.IModelProto {
  let inlineBytes = 0;
  const counting: TensorPlacer = (t, subject, isInitializer) => {
    const ref = place(t, subject, isInitializer);
    if (ref === undefined) inlineBytes += tensorByteLength(t) ?? 0;
    return ref;
  };
  const proto = encodeModelProto(model, label, counting);
  if (inlineBytes > PROTOBUF_LIMIT) {
    throw new UnsupportedModelError(`${label}: the model holds ${inlineBytes} bytes of inline tensor data, more than one protobuf file can hold (2 GiB)`, {
      action: "Write it with external data (writeModel with externalData: 'all').",
    });
  }
  return proto;
}

// Field numbers from onnx.proto, for writing the initializers' framing by hand.
const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const TENSOR_RAW_DATA = 9;
const LENGTH_DELIMITED = 2;

/**
 * The model's protobuf encoding as a list of chunks. Encoding it in one piece would copy every inline
 * weight into one more model-sized buffer; here each initializer's raw_data is passed on as the view it
 * already is (often into the file the model was read from), and only the small rest is encoded. The
 * graph field and the initializers come after the other fields, which protobuf allows (fields may
 * appear in any order), so the result decodes to the same model as `ModelProto.encode`.
 */
function encodeChunks(proto: P.IModelProto): Uint8Array[] {
  const graph = proto.graph ?? {};
  const initializers = graph.initializer ?? [];
  const chunks: Uint8Array[] = [onnx.ModelProto.encode({ ...proto, graph: undefined }).finish()];
  const graphRest = onnx.GraphProto.encode({ ...graph, initializer: [] }).finish();
  const tensorChunks: Uint8Array[] = [];
  let graphLength = graphRest.length;
  for (const t of initializers) {
    const raw = t.rawData ?? new Uint8Array(0);
    const head = onnx.TensorProto.encode({ ...t, rawData: undefined }).finish();
    const rawHeader = raw.length > 0 ? fieldHeader(TENSOR_RAW_DATA, raw.length) : new Uint8Array(0);
    const tensorLength = head.length + rawHeader.length + raw.length;
    const header = fieldHeader(GRAPH_INITIALIZER, tensorLength);
    tensorChunks.push(header, head, rawHeader, raw);
    graphLength += header.length + tensorLength;
  }
  chunks.push(fieldHeader(MODEL_GRAPH, graphLength), graphRest, ...tensorChunks);
  return chunks.filter((c) => c.length > 0);
}

/** The key (field number, length-delimited) and length varints that precede a length-delimited field. */
function fieldHeader(field: number, length: number): Uint8Array {
  const bytes: number[] = [];
  for (let v = field * 8 + LENGTH_DELIMITED; ; v = Math.floor(v / 128)) {
    if (v < 128) {
      bytes.push(v);
      break;
    }
    bytes.push((v % 128) | 128);
  }
  for (let v = length; ; v = Math.floor(v / 128)) {
    if (v < 128) {
      bytes.push(v);
      break;
    }
    bytes.push((v % 128) | 128);
  }
  return Uint8Array.from(bytes);
}

interface LayoutEntry {
  tensor: ConstTensor;
  subject: string;
  offset: number;
  length: number;
}

/** Plans the data file while the model is encoded, then streams it tensor by tensor. */
class DataFileLayout {
  readonly entries: LayoutEntry[] = [];
  private end = 0;

  constructor(private readonly location: string) {}

  add(tensor: ConstTensor, subject: string, length: number): ExternalRef {
    const offset = Math.ceil(this.end / EXTERNAL_DATA_ALIGNMENT) * EXTERNAL_DATA_ALIGNMENT;
    this.entries.push({ tensor, subject, offset, length });
    this.end = offset + length;
    return { location: this.location, offset, length };
  }

  /** Reads one tensor at a time, so the data file is never held in memory as a whole. */
  *chunks(label: string): Generator<Uint8Array> {
    const zeros = new Uint8Array(EXTERNAL_DATA_ALIGNMENT);
    let pos = 0;
    for (const e of this.entries) {
      if (e.offset > pos) yield zeros.subarray(0, e.offset - pos);
      const bytes = tensorStorageBytes(e.tensor, `${label}: ${e.subject}`);
      yield bytes;
      pos = e.offset + bytes.byteLength;
    }
  }
}
