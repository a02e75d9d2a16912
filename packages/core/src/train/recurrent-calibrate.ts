import * as tf from '@tensorflow/tfjs-core';
import type { Executor } from '../interpreter/executor.js';
import type { Observer } from '../interpreter/kernel.js';
import { OBSERVE, calibrateRecurrentGate, type PgLayer } from '../gating/index.js';

/** Samples of each unit's gate statistic kept for its threshold. */
const UNIT_SAMPLES = 8192;

/**
 * Calibrates a PGLSTM/QLSTM or PGGRU/QGRU (docs/method.md, "Recurrent layers"): x's static scale is the largest |x| the layer
 * receives over the sample (h needs none: it lies in (−1, 1)); with a target, each unit's threshold is the cut
 * that leaves that share of its gate statistic (z_hb, |z_hb| or −|z_hb|, gating/recurrent-gate.ts) at or below it,
 * measured with every gate on. Sets the executor's parameters and returns their values by initializer name.
 */
export function calibrateRecurrentLayer(exec: Executor, inputName: string, batches: tf.Tensor[], layer: PgLayer, target: number | undefined): Map<string, Float32Array> {
  const { node } = layer;
  const values = new Map<string, Float32Array>();
  const run = (key: string, see: (t: tf.Tensor) => void) => {
    const observer: Observer = { wants: (n, k) => n === node && k === key, observe: (_n, _k, t) => see(t) };
    for (const x of batches) tf.tidy(() => void exec.run({ [inputName]: x }, { outputs: [node.outputs.find((o) => o) ?? node.outputs[0]], observer }));
  };
  let maxAbs = 1e-12;
  run(OBSERVE.input, (x) => void (maxAbs = Math.max(maxAbs, tf.max(tf.abs(x)).dataSync()[0])));
  values.set(layer.actScale, Float32Array.of(maxAbs));
  exec.setParam(layer.actScale, tf.scalar(maxAbs));
  if (!layer.gated || target === undefined) return values;
  const thr = layer.threshold!;
  const dims = exec.param(thr)!.shape;
  const units = dims.reduce((a, b) => a * b, 1);
  exec.setParam(thr, tf.fill(dims, -Infinity));
  const chunks: Float32Array[] = [];
  run(OBSERVE.prediction, (g) => void chunks.push(g.dataSync() as Float32Array));
  const rows = chunks.reduce((a, c) => a + c.length / units, 0);
  const stride = Math.max(1, Math.floor(rows / UNIT_SAMPLES));
  const perUnit = Array.from({ length: units }, () => [] as number[]);
  let row = 0;
  for (const c of chunks) {
    for (let r = 0; r < c.length / units; r++, row++) {
      if (row % stride !== 0) continue;
      for (let u = 0; u < units; u++) perUnit[u].push(c[r * units + u]);
    }
  }
  // The samples are the statistic already: cut them as the `above` rule cuts z_hb.
  const delta = calibrateRecurrentGate(
    'above',
    perUnit.map((v) => Float32Array.from(v)),
    target,
  );
  values.set(thr, delta);
  exec.setParam(thr, tf.tensor(delta, dims, 'float32'));
  return values;
}
