import { activeBackend, constTensor, Executor, initBackend, numElements, opRegistry, toTfTensor, UnsupportedModelError, type Model, type Node } from '@pg/core';

/**
 * Every value's shape at batch 1 and the nodes in execution order, found by running the model once on
 * zeros with pg's executor (the shapes a hardware description needs are the ones pg computes).
 */
export async function probeValueShapes(model: Model): Promise<{ order: Node[]; shapes: Map<string, number[]> }> {
  const where = model.sourcePath ?? 'the model';
  if (activeBackend() === undefined) await initBackend();
  const exec = new Executor(model, { registry: opRegistry });
  try {
    const feeds: Record<string, ReturnType<typeof toTfTensor>> = {};
    for (const input of exec.graph.inputs) {
      if (exec.graph.initializers.has(input.name)) continue;
      if (!input.shape) throw new UnsupportedModelError(`${where}: input '${input.name}' does not declare its shape`, { action: 're-export the model with input shapes' });
      const shape = input.shape.map((d, i) => {
        if (typeof d === 'number' && d > 0) return d;
        if (i === 0) return 1;
        throw new UnsupportedModelError(`${where}: input '${input.name}' has a symbolic dimension beyond the batch (${String(d)})`, {
          action: 're-export the model with a fixed input size: hardware descriptions need every layer size',
        });
      });
      // Zeros of the input's type: token ids (int64) index an embedding.
      const integer = input.dtype === 'int64' || input.dtype === 'int32';
      const zeros = integer
        ? constTensor(input.name, 'int32', shape, new Int32Array(numElements(shape)))
        : constTensor(input.name, 'float32', shape, new Float32Array(numElements(shape)));
      feeds[input.name] = toTfTensor(zeros);
    }
    const names = [...new Set(exec.order.flatMap((n) => n.outputs).filter((o) => o !== ''))];
    const out = exec.run(feeds, { outputs: names });
    const shapes = new Map<string, number[]>();
    for (const [name, t] of Object.entries(out)) {
      shapes.set(name, t.shape.slice());
      t.dispose();
    }
    for (const [name, t] of Object.entries(feeds)) {
      shapes.set(name, t.shape.slice());
      t.dispose();
    }
    return { order: exec.order, shapes };
  } finally {
    exec.dispose();
  }
}
