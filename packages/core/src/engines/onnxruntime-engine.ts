import type * as Ort from 'onnxruntime-node';
import type { Model } from '../graph/index.js';
import { UnsupportedModelError, UsageError } from '../errors/index.js';
import { widenFloat16 } from '../onnx/float16.js';
import { encodeModel } from '../onnx/write-model.js';
import type { HostTensor, RunEngine, RunSession } from './engine.js';

type OrtModule = typeof Ort;

/** Loads onnxruntime-node on first use only: other commands never pay for its native library. */
async function loadOrt(): Promise<OrtModule> {
  try {
    return (await import('onnxruntime-node')) as OrtModule;
  } catch (e) {
    throw new UsageError(`engine 'onnxruntime' is not available: onnxruntime-node did not load (${(e as Error).message.split('\n')[0]})`, {
      action: "Reinstall pg so that onnxruntime-node and its native library are present, or run the model on pg's interpreter (`pg run --runtime pg`, the default).",
      cause: e,
    });
  }
}

/** ONNX Runtime's CPU execution provider (onnxruntime-node): the reference pg is checked against. */
export class OnnxRuntimeEngine implements RunEngine {
  readonly name = 'onnxruntime' as const;

  async load(model: Model): Promise<RunSession> {
    const ort = await loadOrt();
    // From the file when there is one, so ONNX Runtime finds external data next to it.
    const options: Ort.InferenceSession.SessionOptions = { logSeverityLevel: 3 };
    try {
      const session =
        model.sourcePath !== undefined ? await ort.InferenceSession.create(model.sourcePath, options) : await ort.InferenceSession.create(encodeModel(model), options);
      return new OrtSession(ort, session);
    } catch (e) {
      throw new UnsupportedModelError(`ONNX Runtime cannot load ${model.sourcePath ?? 'the model'}: ${firstLine(e)}`, {
        action: "Check the model with `pg inspect`; run it on pg's interpreter (`pg run --runtime pg`) instead.",
        cause: e,
      });
    }
  }
}

class OrtSession implements RunSession {
  constructor(
    private readonly ort: OrtModule,
    private readonly session: Ort.InferenceSession,
  ) {}

  async run(feeds: Readonly<Record<string, HostTensor>>, outputs: readonly string[]): Promise<Record<string, HostTensor>> {
    const ortFeeds: Record<string, Ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new this.ort.Tensor(t.dtype, t.data, t.shape);
    let results: Ort.InferenceSession.ReturnType;
    try {
      results = await this.session.run(ortFeeds, [...outputs]);
    } catch (e) {
      throw new UnsupportedModelError(`ONNX Runtime failed to run the model: ${firstLine(e)}`, {
        action: 'Check the inputs against the model (`pg inspect MODEL`).',
        cause: e,
      });
    }
    const host: Record<string, HostTensor> = {};
    for (const name of outputs) host[name] = fromOrt(name, results[name]);
    return host;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

function fromOrt(name: string, t: Ort.Tensor): HostTensor {
  const shape = t.dims.map(Number);
  switch (t.type) {
    case 'float32':
    case 'float64':
    case 'int64':
    case 'int32':
    case 'int16':
    case 'int8':
    case 'uint8':
    case 'bool':
      return { dtype: t.type, shape, data: t.data } as HostTensor;
    case 'float16':
      return { dtype: 'float32', shape, data: widenFloat16(t.data as Uint16Array) };
    default:
      throw new UnsupportedModelError(`output '${name}' is ${t.type}, which pg run cannot write to an .npy file`, {
        action: 'Ask for another output with --output-name.',
      });
  }
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}
