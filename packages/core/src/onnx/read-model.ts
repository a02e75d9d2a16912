import { dirname, resolve } from 'node:path';
import type { onnx as P } from 'onnx-proto';
import type { Model } from '../graph/ir.js';
import { validateGraph } from '../graph/validate.js';
import { readFileBytes } from '../io/read-file.js';
import { invalid, unsupported, type DecodeContext } from './context.js';
import { checkExternalFiles, type ExternalTensor } from './external-data.js';
import { decodeFunction, decodeGraph, decodeOpsets } from './graph-decode.js';
import { int64ToNumber, int64ToSafeNumber, type Int64 } from './int64.js';
import { onnx } from './proto.js';

/** The newest ONNX IR version pg reads (ONNX 1.16/1.17). */
export const MAX_IR_VERSION = 10;

/** The newest ai.onnx opset pg knows (ONNX 1.17); a newer one may change what an op means. */
export const MAX_OPSET = 22;

const NOT_A_MODEL_ACTION = 'Check that the file is a complete ONNX model (.onnx); re-download or re-export it.';

/**
 * Reads an ONNX model. Tensors stored in external data files are checked (file exists, byte ranges fit)
 * but only read on their first `data()` call.
 */
export async function readModel(path: string): Promise<Model> {
  const bytes = await readFileBytes(path);
  const { model, externals } = decodeModelWithExternals(bytes, path);
  await checkExternalFiles(externals);
  return model;
}

/**
 * Decodes ONNX model bytes. `sourcePath` names the model in messages and locates external data;
 * without it, reading an external tensor's data throws.
 */
export function decodeModel(bytes: Uint8Array, sourcePath?: string): Model {
  return decodeModelWithExternals(bytes, sourcePath).model;
}

function decodeModelWithExternals(bytes: Uint8Array, sourcePath: string | undefined): { model: Model; externals: ExternalTensor[] } {
  const ctx: DecodeContext = {
    file: sourcePath ?? '<memory>',
    baseDir: sourcePath === undefined ? undefined : dirname(resolve(sourcePath)),
    kind: 'model',
    externals: [],
  };
  if (bytes.length === 0) throw invalid(ctx, 'the file is empty', NOT_A_MODEL_ACTION);

  let proto: P.ModelProto;
  try {
    proto = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw notAModel(ctx, bytes, `it cannot be decoded as protobuf (${e instanceof Error ? e.message : String(e)}); it may be truncated or of another format`);
  }
  if (!proto.graph) throw notAModel(ctx, bytes, 'it decodes as protobuf but has no graph');

  const irVersion = int64ToSafeNumber(proto.irVersion as Int64) ?? 0;
  if (irVersion <= 0) throw invalid(ctx, 'the model has no ir_version');
  if (irVersion > MAX_IR_VERSION) {
    throw unsupported(
      ctx,
      `the model has IR version ${irVersion}, newer than the newest pg reads (${MAX_IR_VERSION})`,
      `Convert the model to IR version ${MAX_IR_VERSION} or lower (e.g. onnx.version_converter, or export with an older ONNX).`,
    );
  }
  const opsetImports = decodeOpsets(proto.opsetImport, 'the model', ctx);
  if (opsetImports.length === 0 && irVersion >= 3) throw invalid(ctx, 'the model imports no opset (opset_import is empty)');
  const onnxOpset = opsetImports.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version;
  if (onnxOpset !== undefined && onnxOpset > MAX_OPSET) {
    throw unsupported(
      ctx,
      `the model imports ONNX opset ${onnxOpset}, newer than the newest pg knows (${MAX_OPSET})`,
      `Export the model with opset_version ${MAX_OPSET} or lower (13 to 21 are the ones checked).`,
    );
  }

  const model: Model = {
    irVersion,
    opsetImports,
    producerName: proto.producerName ?? '',
    producerVersion: proto.producerVersion ?? '',
    domain: proto.domain ?? '',
    modelVersion: int64ToNumber((proto.modelVersion ?? 0) as Int64),
    docString: proto.docString ?? '',
    // fromEntries defines own properties, so a key like '__proto__' cannot touch the prototype.
    metadata: Object.fromEntries((proto.metadataProps ?? []).map((e) => [e.key ?? '', e.value ?? ''])),
    graph: decodeGraph(proto.graph, ctx),
    functions: (proto.functions ?? []).map((f) => decodeFunction(f, ctx)),
  };
  if (sourcePath !== undefined) model.sourcePath = sourcePath;
  validateGraph(model.graph, ctx.file);
  return { model, externals: ctx.externals };
}

/** An InvalidModelError that says what the file looks like instead, when that is recognisable. */
function notAModel(ctx: DecodeContext, bytes: Uint8Array, why: string): Error {
  if (looksLikeTensorProto(bytes)) {
    return invalid(ctx, 'the file is an ONNX TensorProto (a tensor file such as a test-data input_0.pb), not a model', 'Pass the model file (.onnx), not a tensor file.');
  }
  return invalid(ctx, `the file is not an ONNX model: ${why}`, NOT_A_MODEL_ACTION);
}

function looksLikeTensorProto(bytes: Uint8Array): boolean {
  try {
    const t = onnx.TensorProto.decode(bytes);
    const hasData =
      t.rawData.length > 0 ||
      t.floatData.length > 0 ||
      t.int32Data.length > 0 ||
      t.int64Data.length > 0 ||
      t.doubleData.length > 0 ||
      t.uint64Data.length > 0 ||
      t.stringData.length > 0 ||
      t.externalData.length > 0;
    return t.dataType > 0 && t.dataType <= 23 && hasData;
  } catch {
    return false;
  }
}
