import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { FMNIST_NORM, fixtureModel } from '../../test/fixtures.js';
import { nativeBuilt, nativeSkipReason } from '../../test/support/native.js';
import { firstBatch, openDataset } from '../data/index.js';
import { Executor } from '../interpreter/executor.js';
import { initBackend } from '../interpreter/index.js';
import { readModel } from '../onnx/index.js';
import { convertModel } from './convert.js';
import { pgLayers } from './layers.js';
import { opRegistry } from './op-registry.js';
import { shardGradients, type LossSpec } from '../train/parallel/shard-loss.js';

// While training, a gated conv runs the ReLU after it, and a residual-gated conv the residual Add of its gate
// offset and the ReLU, in its own gate passes (OpDeclaration.tail). On the bundled ResNet with real
// Fashion-MNIST samples, training's loss, counts and every gradient must be those of the graph run node by node
// (Executor option fuseTails: false), bit for bit, and with the native gate the tfjs ReLUs after the gated
// convs must not run.

beforeAll(async () => {
  await initBackend('wasm');
});

interface StepResult {
  loss: number;
  counts: number[];
  grads: Float32Array[];
  /** tfjs Relu kernels run (the model's, the composed quantizers' and the loss's). */
  relus: number;
}

async function step(fuseTails: boolean, gateResidual: boolean, native: 'on' | 'composed'): Promise<StepResult> {
  const quant = process.env.PG_NATIVE_QUANT;
  if (native === 'composed') process.env.PG_NATIVE_QUANT = '0';
  try {
    const { model } = convertModel(await readModel(fixtureModel('resnet-fmnist')), { bits: 4, hbits: 2, wbits: 8, actScale: 'static', gateResidual });
    const layers = pgLayers(model);
    const batch = await firstBatch((await openDataset('fashion-mnist:test?source=bundled', { ...FMNIST_NORM })).batches(32, { limit: 32 }));
    const exec = new Executor(model, { registry: opRegistry, fuseTails });
    const trained = layers.flatMap((l) => [l.weight, l.bias, l.threshold, l.actScale]).filter((n): n is string => n !== undefined && exec.param(n) !== undefined);
    const vars = trained.map((n) => {
      const v = tf.variable(exec.param(n)!, true, `${n}-${String(fuseTails)}-${native}-${Math.random()}`);
      exec.setParam(n, v);
      return v;
    });
    const spec: LossSpec = {
      inputName: model.graph.inputs[0].name,
      outputName: model.graph.outputs[0].name,
      numClasses: 10,
      penalty: 0,
      gateTarget: 0,
      budget: 0.2,
      sparsityWeight: 2,
      settings: {},
    };
    const out = new Float32Array(vars.reduce((a, v) => a + v.size, 0));
    let r: ReturnType<typeof shardGradients> | undefined;
    const profile = await tf.profile(() => {
      r = shardGradients({ exec, vars, thresholds: [] }, spec, batch.x, batch.shape, batch.y!, 1, false, out);
      return [];
    });
    const relus = profile.kernels.filter((k) => k.name === 'Relu').length;
    let at = 0;
    const grads = vars.map((v) => {
      at += v.size;
      return out.slice(at - v.size, at);
    });
    tf.dispose(vars);
    exec.dispose();
    return { loss: r!.loss, counts: [r!.gateOn, r!.gateTotal], grads, relus };
  } finally {
    if (quant === undefined) delete process.env.PG_NATIVE_QUANT;
    else process.env.PG_NATIVE_QUANT = quant;
  }
}

/** The entries where a and b differ as numbers (a zero's sign is not a difference). */
function differing(a: Float32Array, b: Float32Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (!(a[i] === b[i])) n++;
  return n;
}

describe('gated convs run their ReLU and residual Add while training (the bundled ResNet)', () => {
  // Of the bundled ResNet's 7 ReLUs, the plain placement's 3 gated convs feed one each, the residual one's 6.
  const cases = [
    { placement: 'plain', gateResidual: false, fusedRelus: 3 },
    { placement: 'residual', gateResidual: true, fusedRelus: 6 },
  ] as const;
  for (const native of ['on', 'composed'] as const) {
    for (const c of cases) {
      it.skipIf(native === 'on' && !nativeBuilt)(
        `${c.placement} placement, native quantizer and gate ${native}: the same loss, counts and gradients as node by node, bit for bit${native === 'on' ? nativeSkipReason : ''}`,
        async () => {
          const apart = await step(false, c.gateResidual, native);
          const fused = await step(true, c.gateResidual, native);
          expect(fused.loss).toBe(apart.loss);
          expect(fused.counts).toEqual(apart.counts);
          // The native gate pass computes them; composed, the kernel runs the same tfjs ops the nodes would.
          expect(apart.relus - fused.relus).toBe(native === 'on' ? c.fusedRelus : 0);
          expect(fused.grads.length).toBe(apart.grads.length);
          fused.grads.forEach((g, i) => expect(differing(g, apart.grads[i]), `gradient ${i}`).toBe(0));
          expect(fused.grads.every((g) => g.some((v) => v !== 0))).toBe(true);
        },
      );
    }
  }
});
