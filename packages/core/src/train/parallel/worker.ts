import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { decodeModel } from '../../onnx/index.js';
import { initBackend } from '../../interpreter/backend.js';
import { setNativeThreads, TRAINING_NATIVE_THREADS } from '../../interpreter/native/threads.js';
import { Executor } from '../../interpreter/executor.js';
import { opRegistry } from '../../gating/index.js';
import type { FromWorker, InitMessage, StepMessage, ToWorker } from './protocol.js';
import { serializeError } from './protocol.js';
import { shardGradients, type ShardModel } from './shard-loss.js';

/**
 * A data-parallel training worker: its own TensorFlow.js backend and executor; per step it reads the
 * parameters from shared memory, computes its shards' gradients into their slots and reports back.
 */
const port = parentPort;
if (!port) throw new Error('train/parallel/worker.js runs as a worker thread');

let state: { init: InitMessage; model: ShardModel; version: number } | undefined;

function post(m: FromWorker): void {
  port!.postMessage(m);
}

async function init(m: InitMessage): Promise<void> {
  await initBackend(m.backend);
  // As the main thread's finetune: a fixed oneDNN thread count keeps the gradients independent of --workers.
  setNativeThreads(TRAINING_NATIVE_THREADS);
  const model = decodeModel(m.model);
  const exec = new Executor(model, { registry: opRegistry });
  const vars = m.params.map((name) => {
    const v = tf.variable(exec.param(name)!, true, `pgw${m.worker}/${name}`);
    exec.setParam(name, v);
    return v;
  });
  const byName = new Map(m.params.map((n, i) => [n, vars[i]]));
  const thresholds = m.thresholds.map((n) => byName.get(n)!);
  const teacher = m.teacher ? new Executor(decodeModel(m.teacher), { registry: opRegistry }) : undefined;
  state = { init: m, model: { exec, vars, thresholds, teacher }, version: -1 };
}

function step(m: StepMessage): void {
  const { init: i, model } = state!;
  const control = new Int32Array(i.buffers.control);
  // The parameter version is an atomic: reading it orders the reads of the parameters after it.
  const version = Atomics.load(control, 0);
  if (version !== state!.version) {
    const params = new Float32Array(i.buffers.params);
    let offset = 0;
    for (const v of model.vars) {
      v.assign(tf.tensor(params.subarray(offset, offset + v.size), v.shape, 'float32'));
      offset += v.size;
    }
    state!.version = version;
  }
  const x = new Float32Array(i.buffers.x);
  const labels = new Int32Array(i.buffers.labels);
  const grads = new Float32Array(i.buffers.grads);
  const results = new Float64Array(i.buffers.results);
  const size = m.shape.slice(1).reduce((a, b) => a * b, 1);
  const total = model.vars.reduce((a, v) => a + v.size, 0);
  for (const [k, start, end] of m.shards) {
    const r = shardGradients(
      model,
      i.spec,
      x.slice(start * size, end * size),
      [end - start, ...m.shape.slice(1)],
      labels.slice(start * (i.spec.labelsPerSample ?? 1), end * (i.spec.labelsPerSample ?? 1)),
      (end - start) / m.shape[0],
      k === 0,
      grads.subarray(k * total, (k + 1) * total),
    );
    results.set([r.loss, r.gateOn, r.gateTotal], k * 3);
  }
  Atomics.store(control, 1 + i.worker, m.step);
  post({ type: 'done', step: m.step });
}

port.on('message', (m: ToWorker) => {
  const run = async () => {
    if (m.type === 'init') {
      await init(m);
      post({ type: 'ready' });
    } else {
      step(m);
    }
  };
  run().catch((e: unknown) => post({ type: 'error', error: serializeError(e) }));
});
