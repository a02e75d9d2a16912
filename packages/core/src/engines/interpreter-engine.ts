import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../graph/index.js';
import { InvalidDataError } from '../errors/index.js';
import { initBackend, type BackendName } from '../interpreter/backend.js';
import { Executor } from '../interpreter/executor.js';
import { opRegistry } from '../gating/op-registry.js';
import type { HostTensor, RunEngine, RunSession } from './engine.js';
import { castHostTensor, hostDtypeOf } from './host-tensor.js';

/** pg's interpreter (its Executor) on a TensorFlow.js backend (wasm, cpu or node). */
export class InterpreterEngine implements RunEngine {
  constructor(readonly name: BackendName) {}

  async load(model: Model): Promise<RunSession> {
    await initBackend(this.name);
    return new InterpreterSession(new Executor(model, { registry: opRegistry }));
  }
}

class InterpreterSession implements RunSession {
  constructor(private readonly exec: Executor) {}

  async run(feeds: Readonly<Record<string, HostTensor>>, outputs: readonly string[]): Promise<Record<string, HostTensor>> {
    const results = tf.tidy(() => {
      const inputs = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, toTensor(name, t)]));
      return this.exec.run(inputs, { outputs: [...outputs] });
    });
    try {
      const host: Record<string, HostTensor> = {};
      for (const name of outputs) host[name] = await fromTensor(results[name], this.declaredDtype(name));
      return host;
    } finally {
      tf.dispose(Object.values(results));
    }
  }

  async dispose(): Promise<void> {
    this.exec.dispose();
  }

  private declaredDtype(output: string): HostTensor['dtype'] | undefined {
    const info = this.exec.graph.outputs.find((o) => o.name === output);
    return info ? hostDtypeOf(info.dtype) : undefined;
  }
}

/** A feed as a tfjs tensor: tfjs has no 64-bit types, so float64 becomes float32 and int64 int32 (range-checked). */
function toTensor(name: string, t: HostTensor): tf.Tensor {
  switch (t.dtype) {
    case 'float32':
      return tf.tensor(t.data, t.shape, 'float32');
    case 'float64':
      return tf.tensor(Float32Array.from(t.data), t.shape, 'float32');
    case 'bool':
      return tf.tensor(t.data, t.shape, 'bool');
    case 'int32':
      return tf.tensor(t.data, t.shape, 'int32');
    default: {
      const asInt32 = castHostTensor(t, 'int32', `input '${name}'`);
      if (asInt32.dtype !== 'int32') throw new InvalidDataError(`input '${name}': cannot convert ${t.dtype} data to int32`);
      return tf.tensor(asInt32.data, t.shape, 'int32');
    }
  }
}

/** A result on the host, in the dtype the model declares for it (tfjs computes int64 as int32). */
async function fromTensor(t: tf.Tensor, declared: HostTensor['dtype'] | undefined): Promise<HostTensor> {
  const shape = t.shape.slice();
  const data = await t.data();
  let host: HostTensor;
  if (t.dtype === 'bool') host = { dtype: 'bool', shape, data: Uint8Array.from(data as Uint8Array) };
  else if (t.dtype === 'int32') host = { dtype: 'int32', shape, data: Int32Array.from(data as Int32Array) };
  else host = { dtype: 'float32', shape, data: Float32Array.from(data as Float32Array) };
  return declared === undefined ? host : castHostTensor(host, declared, 'output');
}
