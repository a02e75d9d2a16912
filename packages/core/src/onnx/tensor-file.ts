import { dirname, resolve } from 'node:path';
import type { ConstTensor } from '../graph/tensor.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { readFileBytes } from '../io/read-file.js';
import { invalid, type DecodeContext } from './context.js';
import { checkExternalFiles } from './external-data.js';
import { onnx } from './proto.js';
import { decodeTensor, encodeTensor } from './tensor-codec.js';

// Tensor files are the .pb files of ONNX test data sets (test_data_set_0/input_0.pb): one serialized
// TensorProto each. A bad one is bad input data, so errors are InvalidDataError.

const ACTION = 'Check that the file is a serialized ONNX TensorProto (e.g. test_data_set_0/input_0.pb).';

export async function readTensorFile(path: string): Promise<ConstTensor> {
  const bytes = await readFileBytes(path);
  const ctx = contextFor(path);
  const t = decodeWith(bytes, ctx);
  await checkExternalFiles(ctx.externals);
  return t;
}

export function decodeTensorFile(bytes: Uint8Array, sourcePath?: string): ConstTensor {
  return decodeWith(bytes, contextFor(sourcePath));
}

/** A tensor as a standalone TensorProto (data always inline). */
export function encodeTensorFile(t: ConstTensor): Uint8Array {
  return onnx.TensorProto.encode(encodeTensor(t, `tensor '${t.name}'`)).finish();
}

export async function writeTensorFile(t: ConstTensor, path: string): Promise<void> {
  await writeFileAtomic(path, encodeTensorFile(t));
}

function contextFor(sourcePath: string | undefined): DecodeContext {
  return {
    file: sourcePath ?? '<memory>',
    baseDir: sourcePath === undefined ? undefined : dirname(resolve(sourcePath)),
    kind: 'data',
    externals: [],
  };
}

function decodeWith(bytes: Uint8Array, ctx: DecodeContext): ConstTensor {
  if (bytes.length === 0) throw invalid(ctx, 'the file is empty', ACTION);
  let proto;
  try {
    proto = onnx.TensorProto.decode(bytes);
  } catch (e) {
    throw notATensor(ctx, bytes, `it cannot be decoded as protobuf (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!proto.dataType) throw notATensor(ctx, bytes, 'it has no element type');
  return decodeTensor(proto, `tensor '${proto.name}'`, ctx);
}

function notATensor(ctx: DecodeContext, bytes: Uint8Array, why: string): Error {
  let isModel = false;
  try {
    isModel = onnx.ModelProto.decode(bytes).graph != null;
  } catch {
    // not a model either
  }
  return isModel
    ? invalid(ctx, 'the file is an ONNX model, not a tensor file', 'Pass a tensor file (e.g. test_data_set_0/input_0.pb), not the model.')
    : invalid(ctx, `the file is not an ONNX tensor file: ${why}`, ACTION);
}
