import { FileAccessError, InterruptedError, InvalidDataError, InvalidModelError, PgError, TrainingError, UnsupportedModelError, UsageError } from '../../errors/index.js';
import type { BackendName } from '../../interpreter/backend.js';
import type { LossSpec } from './shard-loss.js';

/** Shared memory of a data-parallel step; every buffer is a SharedArrayBuffer. */
export interface SharedBuffers {
  /** The trained parameters, back to back (written by the main thread after each update). */
  params: SharedArrayBuffer;
  /** One gradient slot per shard, each the parameters' size. */
  grads: SharedArrayBuffer;
  /** The batch's samples, row-major. */
  x: SharedArrayBuffer;
  labels: SharedArrayBuffer;
  /** Per shard: loss, gate-on count, gate total. */
  results: SharedArrayBuffer;
  /** Int32 fences: [0] the parameter version, [1 + w] the last step worker w finished. */
  control: SharedArrayBuffer;
}

export interface InitMessage {
  type: 'init';
  worker: number;
  backend: BackendName;
  /** The model as ONNX bytes (its initializers hold the parameters' starting values). */
  model: Uint8Array;
  /** Trained initializers, in gradient-buffer order. */
  params: string[];
  thresholds: string[];
  /**
   * The float model to distill from, as ONNX bytes: the float twin of the model finetune was given. Not made
   * from `model`, whose weights are a checkpoint's trained ones when a run resumes.
   */
  teacher: Uint8Array | null;
  spec: LossSpec;
  buffers: SharedBuffers;
}

export interface StepMessage {
  type: 'step';
  step: number;
  /** The shards this worker computes: [index, start, end]. */
  shards: [number, number, number][];
  /** Shape of the whole batch. */
  shape: number[];
}

export type ToWorker = InitMessage | StepMessage;

export interface SerializedError {
  name: string;
  message: string;
  action?: string;
}

export type FromWorker = { type: 'ready' } | { type: 'done'; step: number } | { type: 'error'; error: SerializedError };

export function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) return { name: e.name, message: e.message, action: e instanceof PgError ? e.action : undefined };
  return { name: 'Error', message: String(e) };
}

const KINDS: Record<string, new (message: string, options?: { action?: string; cause?: unknown }) => PgError> = {
  UsageError,
  InvalidModelError,
  UnsupportedModelError,
  InvalidDataError,
  FileAccessError,
  TrainingError,
  InterruptedError,
};

/** The worker's error as the same PgError type (a TrainingError naming the worker for anything else). */
export function deserializeError(e: SerializedError, worker: number): PgError {
  const Kind = KINDS[e.name];
  if (Kind) return new Kind(e.message, { action: e.action });
  return new TrainingError(`training worker ${worker} failed: ${e.message}`, { action: 'run again with --workers 1; if it fails there too, report it with the model' });
}
