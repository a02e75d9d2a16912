import * as tf from '@tensorflow/tfjs-core';
import type { Dim, Model, ValueInfo } from '../graph/index.js';
import { Executor } from '../interpreter/executor.js';
import { opRegistry } from './op-registry.js';

/** The input's shape with a symbolic batch set to 1, or why it has no usable shape. */
export function concreteInputShape(input: ValueInfo): number[] | string {
  if (input.shape === undefined) return `input '${input.name}' does not declare its shape`;
  const shape: number[] = [];
  for (const [i, d] of input.shape.entries()) {
    if (typeof d === 'number' && d > 0) shape.push(d);
    else if (i === 0) shape.push(1);
    else return `input '${input.name}' has the dimension ${describeDim(d)} beyond the batch (shape ${formatDims(input.shape)}); pg cannot choose its size`;
  }
  return shape;
}

/** Zeros of the input's type (bool, float, else int32) in `shape`. */
export function zerosFor(input: ValueInfo, shape: number[]): tf.Tensor {
  switch (input.dtype) {
    case 'bool':
      return tf.zeros(shape, 'bool');
    case 'float32':
    case 'float16':
    case 'float64':
      return tf.zeros(shape, 'float32');
    default:
      return tf.zeros(shape, 'int32');
  }
}

function describeDim(d: Dim): string {
  return typeof d === 'string' ? `'${d}'` : 'of unknown size';
}

/** `[N, 3, 224, 224]`, with `?` for unknown dimensions. */
export function formatDims(dims: readonly Dim[]): string {
  return `[${dims.map((d) => d ?? '?').join(', ')}]`;
}

/**
 * The shapes of the named values (batch 1 where the batch is symbolic), from one run of the model on zeros.
 * Never throws: a model pg cannot run so (an input without a usable shape, an op it cannot run) gives an empty
 * map, and whoever needed a shape treats it as unknown.
 */
export function probeValueShapes(model: Model, names: readonly string[]): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const graph = model.graph;
  const feeds: Record<string, tf.Tensor> = {};
  let exec: Executor | undefined;
  try {
    for (const input of graph.inputs) {
      if (graph.initializers.has(input.name)) continue;
      const shape = concreteInputShape(input);
      if (typeof shape === 'string') return shapes;
      feeds[input.name] = zerosFor(input, shape);
    }
    exec = new Executor(model, { registry: opRegistry });
    const wanted = [...new Set(names)].filter((n) => !(n in feeds) && !graph.initializers.has(n));
    const out = exec.run(feeds, { outputs: wanted });
    for (const [name, t] of Object.entries(out)) {
      shapes.set(name, t.shape.slice());
      t.dispose();
    }
    for (const n of names) if (n in feeds) shapes.set(n, feeds[n].shape.slice());
  } catch {
    shapes.clear();
  } finally {
    Object.values(feeds).forEach((t) => t.dispose());
    exec?.dispose();
  }
  return shapes;
}
