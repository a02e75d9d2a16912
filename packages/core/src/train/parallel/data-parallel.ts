import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Batch } from '../../data/index.js';
import { TrainingError } from '../../errors/index.js';
import type { Model } from '../../graph/index.js';
import { encodeModel } from '../../onnx/index.js';
import { activeBackend } from '../../interpreter/backend.js';
import { activeNativeKernels } from '../../interpreter/native/index.js';
import type { FromWorker, SharedBuffers, StepMessage, ToWorker } from './protocol.js';
import { deserializeError } from './protocol.js';
import { shardGradients, type LossSpec, type ShardModel } from './shard-loss.js';
import { shardsOf, shardsOfWorker, type Shard } from './shards.js';

export interface DataParallelOptions {
  /** Threads computing gradients, the main thread included (1: no worker threads). */
  workers: number;
  /** Micro-shards per batch: what the loss is defined over (see shard-loss.ts), whatever `workers` is. */
  shards: number;
}

/** Worker threads by default: one per core, at most one per shard. */
export function defaultWorkers(shards: number): number {
  return Math.max(1, Math.min(availableParallelism(), shards));
}

export interface StepGradients {
  loss: number;
  gateOn: number;
  gateTotal: number;
  /** Σ over the shards, in shard order, of their gradients: the variables back to back. */
  grads: Float32Array;
}

interface Pending {
  resolve(): void;
  reject(e: Error): void;
}

/**
 * Loss and gradients of a training step, computed data-parallel: the batch is cut into a fixed number of
 * micro-shards; the main thread and `workers - 1` worker threads (each with its own TensorFlow.js
 * backend and executor) compute the gradients of their shards into per-shard slots of shared memory,
 * and the main thread sums the slots in shard order. Which thread computed a shard does not change its
 * bits, and the sum's order is fixed, so the result is the same for any worker count. After the
 * optimizer's update the main thread publishes the parameters (`publish`) for the next step.
 */
export class DataParallelGradients {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly buffers: SharedBuffers;
  private readonly total: number;
  private failure: Error | undefined;
  private closed = false;

  private constructor(
    private readonly main: ShardModel,
    private readonly spec: LossSpec,
    private readonly opts: DataParallelOptions,
    batchSize: number,
    sampleSize: number,
  ) {
    this.total = main.vars.reduce((a, v) => a + v.size, 0);
    const shards = Math.max(1, Math.min(opts.shards, batchSize));
    this.buffers = {
      params: new SharedArrayBuffer(4 * this.total),
      grads: new SharedArrayBuffer(4 * this.total * shards),
      x: new SharedArrayBuffer(4 * batchSize * sampleSize),
      labels: new SharedArrayBuffer(4 * batchSize * (spec.labelsPerSample ?? 1)),
      results: new SharedArrayBuffer(8 * 3 * shards),
      control: new SharedArrayBuffer(4 * (1 + opts.workers)),
    };
  }

  /**
   * Starts the worker threads (if any) and waits until each has its model. `model` must hold the
   * parameters' current values; `params` names the trained initializers in `main.vars` order.
   */
  static async start(args: {
    model: Model;
    main: ShardModel;
    params: string[];
    thresholds: string[];
    /** The float model to distill from (the main thread's teacher runs it too). */
    teacher?: Model;
    spec: LossSpec;
    options: DataParallelOptions;
    batchSize: number;
    sampleShape: number[];
  }): Promise<DataParallelGradients> {
    const size = args.sampleShape.reduce((a, b) => a * b, 1);
    const dp = new DataParallelGradients(args.main, args.spec, args.options, args.batchSize, size);
    dp.publish();
    if (args.options.workers > 1) {
      const bytes = encodeModel(args.model);
      const teacher = args.teacher ? encodeModel(args.teacher) : null;
      const url = workerUrl();
      try {
        await Promise.all(
          Array.from({ length: args.options.workers - 1 }, (_, i) => {
            const worker = new Worker(url);
            worker.unref();
            dp.workers.push(worker);
            const id = i + 1;
            const ready = dp.expect(id);
            worker.on('message', (m: FromWorker) => dp.onMessage(id, m));
            worker.on('error', (e) => dp.fail(id, new TrainingError(`training worker ${id} crashed: ${e.message}`, { action: 'run again with --workers 1', cause: e })));
            worker.on('exit', (code) => dp.fail(id, new TrainingError(`training worker ${id} exited (code ${code})`, { action: 'run again with --workers 1' })));
            const init: ToWorker = {
              type: 'init',
              worker: id,
              backend: activeBackend() ?? 'wasm',
              model: bytes,
              params: args.params,
              thresholds: args.thresholds,
              teacher,
              spec: args.spec,
              buffers: dp.buffers,
            };
            worker.postMessage(init);
            return ready;
          }),
        );
      } catch (e) {
        await dp.dispose();
        throw e;
      }
    }
    return dp;
  }

  /** Loss and summed gradients of one batch (all of it: `batch.shape[0]` rows). */
  async step(batch: Batch, step: number): Promise<StepGradients> {
    if (this.failure) throw this.failure;
    const rows = batch.shape[0];
    const all = shardsOf(rows, this.opts.shards);
    new Float32Array(this.buffers.x).set(batch.x);
    new Int32Array(this.buffers.labels).set(batch.y!);
    const n = this.opts.workers;
    const done = this.workers.map((w, i) => {
      const id = i + 1;
      const finished = this.expect(id);
      const m: StepMessage = { type: 'step', step, shape: batch.shape, shards: shardsOfWorker(all, id, n).map((s) => [s.index, s.start, s.end]) };
      w.postMessage(m);
      return finished;
    });
    // The main thread's own shards while the workers compute theirs; a failure here still waits for them.
    let mainError: unknown;
    try {
      this.computeShards(batch, shardsOfWorker(all, 0, n));
    } catch (e) {
      mainError = e;
    }
    const results = await Promise.allSettled(done);
    if (mainError) throw mainError;
    const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (rejected) throw rejected.reason;
    const control = new Int32Array(this.buffers.control);
    // Reading each worker's fence orders the reads of its slots after its writes.
    for (let w = 1; w < n; w++) if (Atomics.load(control, 1 + w) !== step) throw new TrainingError(`training worker ${w} did not finish step ${step}`);
    return this.reduce(all);
  }

  /** Writes the main thread's variables (after an update) where the workers read them. */
  publish(): void {
    const params = new Float32Array(this.buffers.params);
    let offset = 0;
    for (const v of this.main.vars) {
      params.set(v.dataSync() as Float32Array, offset);
      offset += v.size;
    }
    Atomics.add(new Int32Array(this.buffers.control), 0, 1);
  }

  /** The summed gradients keyed by variable name: views into `grads`, each the variable's size. */
  slices(grads: Float32Array): Record<string, Float32Array> {
    const out: Record<string, Float32Array> = {};
    let offset = 0;
    for (const v of this.main.vars) {
      out[v.name] = grads.subarray(offset, offset + v.size);
      offset += v.size;
    }
    return out;
  }

  async dispose(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }

  private computeShards(batch: Batch, shards: Shard[]): void {
    const size = batch.shape.slice(1).reduce((a, b) => a * b, 1);
    const grads = new Float32Array(this.buffers.grads);
    const results = new Float64Array(this.buffers.results);
    for (const s of shards) {
      const r = shardGradients(
        this.main,
        this.spec,
        batch.x.subarray(s.start * size, s.end * size),
        [s.end - s.start, ...batch.shape.slice(1)],
        batch.y!.subarray(s.start * (this.spec.labelsPerSample ?? 1), s.end * (this.spec.labelsPerSample ?? 1)),
        (s.end - s.start) / batch.shape[0],
        s.index === 0,
        grads.subarray(s.index * this.total, (s.index + 1) * this.total),
      );
      results.set([r.loss, r.gateOn, r.gateTotal], s.index * 3);
    }
  }

  /** Σ_k in shard order, in float32 (the same additions whatever thread wrote each slot). */
  private reduce(all: Shard[]): StepGradients {
    const slots = new Float32Array(this.buffers.grads);
    const results = new Float64Array(this.buffers.results);
    const sum = new Float32Array(this.total);
    // The native addon does the same additions on every core (bit-identical; docs/native-kernels.md).
    const native = activeNativeKernels();
    if (native) {
      native.sumSlots(slots.subarray(0, all.length * this.total), all.length, sum);
    } else {
      for (const s of all) {
        const slot = slots.subarray(s.index * this.total, (s.index + 1) * this.total);
        for (let p = 0; p < this.total; p++) sum[p] += slot[p];
      }
    }
    let loss = 0;
    let gateOn = 0;
    let gateTotal = 0;
    for (const s of all) {
      loss += results[s.index * 3];
      gateOn += results[s.index * 3 + 1];
      gateTotal += results[s.index * 3 + 2];
    }
    return { loss, gateOn, gateTotal, grads: sum };
  }

  private expect(worker: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.pending.set(worker, { resolve, reject });
    });
  }

  private onMessage(worker: number, m: FromWorker): void {
    if (m.type === 'error') return this.fail(worker, deserializeError(m.error, worker));
    const p = this.pending.get(worker);
    this.pending.delete(worker);
    p?.resolve();
  }

  /** A worker failed: the step waiting on it fails, and so does every later one. */
  private fail(worker: number, e: Error): void {
    if (this.closed) return;
    this.failure ??= e;
    const p = this.pending.get(worker);
    this.pending.delete(worker);
    p?.reject(e);
  }
}

/** The worker's compiled file; from the TypeScript sources (tests), the built one in dist/. */
function workerUrl(): URL {
  const here = new URL('./worker.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  const src = import.meta.url.lastIndexOf('/src/');
  const built = src < 0 ? here : new URL(`${import.meta.url.slice(0, src)}/dist/${import.meta.url.slice(src + 5).replace(/[^/]+$/, 'worker.js')}`);
  if (!existsSync(fileURLToPath(built))) throw new TrainingError(`the training worker ${fileURLToPath(built)} is missing`, { action: 'build pg (pnpm build), or use --workers 1' });
  return built;
}
