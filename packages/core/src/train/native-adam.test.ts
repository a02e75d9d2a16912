import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../interpreter/backend.js';
import { bits32, nativeBuilt, nativeSkipReason, uniform } from '../../test/support/native.js';
import { nativeAdamStep } from './native-adam.js';

// The weights' Adam step in the addon must leave exactly what tfjs's AdamOptimizer leaves: the variables, both
// moments (what checkpoints save), β1^t, β2^t and the iteration count, step after step.

beforeAll(async () => {
  await initBackend('wasm');
});

const shapes = [[3, 3, 8, 16], [70_001], [5]];

/** A variable that owns its memory, as finetune's are (their initial tensors are disposed). */
function variable(values: Float32Array, shape: number[], name: string): tf.Variable {
  const t = tf.tensor(values, shape);
  const v = tf.variable(t, true, name);
  t.dispose();
  return v;
}

function run(native: boolean, steps: number, lr = 1e-3) {
  const vars = shapes.map((s, i) =>
    variable(
      uniform(
        s.reduce((a, b) => a * b, 1),
        0.5,
        11 + i,
      ),
      s,
      `w${i}-${native}-${Math.random()}`,
    ),
  );
  const opt = tf.train.adam(lr);
  for (let step = 0; step < steps; step++) {
    // Gradients over many magnitudes (and exact zeros), so rounding differences would show.
    const grads = vars.map((v, i) => uniform(v.size, 1, 100 * step + i).map((g, k) => (k % 13 === 0 ? 0 : g * 10 ** ((k % 7) - 4))));
    if (native) {
      expect(
        nativeAdamStep(
          opt,
          vars.map((v, i) => ({ variable: v, grad: grads[i] })),
        ),
      ).toBe(true);
    } else {
      tf.tidy(() => opt.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: tf.tensor(grads[i], v.shape) }))));
    }
  }
  return { vars, opt };
}

describe.skipIf(!nativeBuilt)(`nativeAdamStep${nativeSkipReason}`, () => {
  it("gives tfjs Adam's bits: variables, moments, beta powers and iterations, over several steps", async () => {
    const a = run(true, 4);
    const b = run(false, 4);
    for (let i = 0; i < shapes.length; i++) expect(Buffer.from(bits32(a.vars[i]).buffer).equals(Buffer.from(bits32(b.vars[i]).buffer))).toBe(true);
    const [wa, wb] = [await a.opt.getWeights(), await b.opt.getWeights()];
    expect(wa.map((w) => w.name.replace(/-(true|false)-[\d.]+/, ''))).toEqual(wb.map((w) => w.name.replace(/-(true|false)-[\d.]+/, '')));
    for (let k = 0; k < wa.length; k++) expect(Buffer.from(bits32(wa[k].tensor).buffer).equals(Buffer.from(bits32(wb[k].tensor).buffer))).toBe(true);
    expect(a.opt.iterations).toBe(4);
    // The variables moved: the comparison is not between two untouched copies.
    expect(bits32(a.vars[1]).some((v, k) => v !== new Uint32Array(uniform(70_001, 0.5, 12).buffer)[k])).toBe(true);
    // A tfjs step after native ones continues exactly as tfjs alone would (the state is tfjs's own).
    const g = shapes.map((s, i) =>
      uniform(
        s.reduce((x, y) => x * y, 1),
        1,
        777 + i,
      ),
    );
    for (const r of [a, b]) tf.tidy(() => r.opt.applyGradients(r.vars.map((v, i) => ({ name: v.name, tensor: tf.tensor(g[i], v.shape) }))));
    for (let i = 0; i < shapes.length; i++) expect(Buffer.from(bits32(a.vars[i]).buffer).equals(Buffer.from(bits32(b.vars[i]).buffer))).toBe(true);
    tf.dispose([...a.vars, ...b.vars]);
    a.opt.dispose();
    b.opt.dispose();
  });

  it('changes nothing and says so when a variable shares its memory with another tensor', async () => {
    const v = variable(uniform(8, 1, 3), [8], `shared-${Math.random()}`);
    const view = tf.reshape(v, [2, 4]); // shares the memory on wasm
    const opt = tf.train.adam(0.1);
    const before = bits32(v);
    expect(nativeAdamStep(opt, [{ variable: v, grad: uniform(8, 1, 4) }])).toBe(false);
    expect(Array.from(bits32(v))).toEqual(Array.from(before));
    expect(opt.iterations).toBe(0);
    expect(await opt.getWeights()).toHaveLength(1); // the iteration count only: no moments were made
    tf.dispose([v, view]);
    opt.dispose();
  });
});
