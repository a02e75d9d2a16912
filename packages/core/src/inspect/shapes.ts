import * as tf from '@tensorflow/tfjs-core';
import type { Model, Node, ValueInfo } from '../graph/index.js';
import { topologicalOrder } from '../graph/topo.js';
import { Executor } from '../interpreter/executor.js';
import type { SupportCheck } from '../interpreter/support.js';
import type { ShapeSource } from './types.js';
import { concreteInputShape, zerosFor } from '../gating/value-shapes.js';

export { formatDims } from '../gating/value-shapes.js';

export interface ShapeProbe {
  /** Output shape of each sized layer, at `source.batch`. */
  shapes: Map<Node, number[]>;
  source: ShapeSource;
}

const unavailable = (note: string): ShapeProbe => ({ shapes: new Map(), source: { method: 'unavailable', batch: null, note } });

/**
 * Finds the output shapes of `layers` by running the model once on zeros, with batch 1 where the batch
 * dimension is symbolic. Nodes pg cannot run, and everything downstream of them, are left out: layers
 * before them are still sized. Never throws: a failure is reported in `source.note`.
 */
export function probeLayerShapes(model: Model, layers: readonly Node[], support: SupportCheck): ShapeProbe {
  if (layers.length === 0) return unavailable('the model has no Conv/Gemm layers to size');
  const graph = model.graph;
  const feedsSpec: { input: ValueInfo; shape: number[] }[] = [];
  for (const input of graph.inputs) {
    if (graph.initializers.has(input.name)) continue;
    const shape = concreteInputShape(input);
    if (typeof shape === 'string') return unavailable(shape);
    feedsSpec.push({ input, shape });
  }
  const batch = feedsSpec[0]?.shape[0] ?? 1;

  let order: Node[];
  try {
    order = topologicalOrder(graph, model.sourcePath);
  } catch (e) {
    return unavailable((e as Error).message);
  }
  const available = new Set<string>([...graph.inputs.map((i) => i.name), ...graph.initializers.keys()]);
  const runnable: Node[] = [];
  for (const node of order) {
    if (support.reason(node) !== undefined) continue;
    if (!node.inputs.every((i) => i === '' || available.has(i))) continue;
    runnable.push(node);
    for (const o of node.outputs) if (o) available.add(o);
  }
  const runs = new Set(runnable);
  const sized = layers.filter((l) => runs.has(l));
  const skipped = layers.filter((l) => !runs.has(l));
  const skippedNote = skipped.length === 0 ? null : `${skipped.length} layer(s) come after ops pg cannot run and were not sized: ${nameList(skipped.map((l) => l.name))}`;
  if (sized.length === 0) return { shapes: new Map(), source: { method: 'unavailable', batch: null, note: skippedNote } };

  const targets = sized.map((l) => l.outputs[0]);
  const sub: Model = {
    ...model,
    graph: { ...graph, nodes: runnable, outputs: targets.map((name) => ({ name, dtype: 'float32' })) },
  };
  const shapes = new Map<Node, number[]>();
  let exec: Executor | undefined;
  try {
    exec = new Executor(sub, { registry: support.registry });
    const runner = exec;
    tf.tidy(() => {
      const feeds = Object.fromEntries(feedsSpec.map(({ input, shape }) => [input.name, zerosFor(input, shape)]));
      const out = runner.run(feeds, { outputs: targets });
      sized.forEach((l, k) => shapes.set(l, out[targets[k]].shape.slice()));
    });
  } catch (e) {
    return unavailable(`running the model once on zeros failed: ${(e as Error).message}`);
  } finally {
    exec?.dispose();
  }
  return { shapes, source: { method: 'executed', batch, note: skippedNote } };
}

/** Up to five names, then how many more. */
function nameList(names: string[]): string {
  const shown = names.slice(0, 5).join(', ');
  return names.length > 5 ? `${shown} and ${names.length - 5} more` : shown;
}
