import type * as tf from '@tensorflow/tfjs-core';
import type { Node } from '../graph/index.js';
import type { RtValue } from './value.js';

/** Receives what kernels choose to report while running (e.g. PG gate counts); used by metrics. */
export interface Observer {
  /** Whether the observer wants `key` from this node; kernels skip computing what nobody wants. */
  wants(node: Node, key: string): boolean;
  /** Called inside the run's tidy scope: keep what you need (tf.keep or read the data). */
  observe?(node: Node, key: string, value: tf.Tensor): void;
  /** Figures a kernel computed outside tfjs (e.g. per-channel counts); each key documents its type. */
  record?(node: Node, key: string, value: object): void;
}

/** What a kernel runs after its own op for the executor (KernelContext.tail): a Relu, or Add(·, gate offset) then a Relu. */
export type FusedTail = 'relu' | 'add-relu';

/** Options for kernels that take them (e.g. the PG gate's surrogate slope), keyed by a dotted name. */
export type KernelSettings = Readonly<Record<string, number | boolean | string>>;

/** Settings the interpreter's own kernels read. */
export const RUNTIME_SETTINGS = {
  /** false: a training run that only trains other parameters; kernels skip weight gradients. */
  weightGradients: 'runtime.weight_gradients',
} as const;

export interface KernelContext {
  readonly node: Node;
  /**
   * Opset version of the node's domain in this model. Kernels do not branch on it: a form of an op that
   * means something else is its own declaration (op-declaration.ts), which the registry picks by opset.
   */
  readonly opset: number;
  /** True while a gradient tape is recording: kernels must not read tensor data synchronously then. */
  readonly training: boolean;
  readonly observer?: Observer;
  readonly settings: KernelSettings;
  /**
   * An activation the executor fused into this node, to apply to its output: set only for a 2-D Conv
   * whose output feeds nothing but a Relu or a ReLU6 Clip, outside training (see Executor).
   */
  readonly activation?: 'relu' | 'relu6';
  /**
   * While training: the nodes after this one that the executor runs inside it, to apply to its output: its Relu,
   * or the residual Add of its gate offset (input 5) and the Relu after it. Set only for a gated conv whose
   * output feeds nothing else (see Executor); the kernel returns the Relu's output.
   */
  readonly tail?: FusedTail;
  /**
   * While training: whether input `i` depends on a trained variable, i.e. whether the backward pass needs its
   * gradient. False for the model's inputs and what only they and constants compute (a stem conv's input):
   * tfjs computes every input's gradient of a custom op, so kernels skip the ones nobody reads. Optional:
   * absent means yes.
   */
  readonly needsGradient?: (i: number) => boolean;
  /** Integer values of input `i` (shape-like inputs: Reshape's shape, Slice's starts...). */
  readInts(i: number): number[] | undefined;
  /** Float values of input `i` (Clip's min/max...). */
  readFloats(i: number): number[] | undefined;
}

/** An op implementation: logical ONNX semantics over layout-tagged tfjs tensors. */
export type Kernel = (inputs: (RtValue | undefined)[], ctx: KernelContext) => RtValue[];
