import { basename, dirname, join, resolve } from 'node:path';
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
  const modelBytes = encodeWith(model, path, place);

  const files: FileToWrite[] = [];
  if (layout.entries.length > 0) files.push({ path: dataPath, data: layout.chunks(path) });
  files.push({ path, data: modelBytes });
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
  return onnx.ModelProto.encode(proto).finish();
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
