import type { NpyArray } from '../data/npy.js';
import type { Model } from '../graph/index.js';

/**
 * A tensor on the host: row-major data with its dtype and shape, the same thing an .npy file holds.
 * Feeds and results of every run engine are host tensors, so engines can be swapped freely.
 */
export type HostTensor = NpyArray;

/** The engines `pg run` can use: pg's interpreter on a TensorFlow.js backend (wasm, cpu, node), or ONNX Runtime. */
export type RunEngineName = 'wasm' | 'cpu' | 'node' | 'onnxruntime';

/** Something that runs ONNX models (pg's interpreter, ONNX Runtime). */
export interface RunEngine {
  readonly name: RunEngineName;
  /** Prepares `model` (read by pg, so known to be valid) for running. */
  load(model: Model): Promise<RunSession>;
}

/** A loaded model. */
export interface RunSession {
  /**
   * Runs the model on `feeds` (one per model input, already in the input's declared dtype and shape)
   * and returns the graph outputs named in `outputs`.
   */
  run(feeds: Readonly<Record<string, HostTensor>>, outputs: readonly string[]): Promise<Record<string, HostTensor>>;
  /** Frees what the session holds (weights, native sessions). */
  dispose(): Promise<void>;
}
