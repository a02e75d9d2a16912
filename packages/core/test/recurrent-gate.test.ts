import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  Executor,
  RECURRENT_GATE_RULES,
  calibrateRecurrentGate,
  initBackend,
  readModel,
  recurrentGateRegistry,
  type Model,
  type RecurrentGateLayer,
  type RecurrentGateRule,
} from '../src/internal.js';
import { FIXTURES } from './fixtures.js';

// pg's gated LSTM (gating/recurrent-gate.ts) against a plain-JS LSTM written here from the method's formulas:
// quantized weights, activations split into high and low bits, a gate per unit and step under each rule.

await initBackend('wasm');

const MODEL = `${FIXTURES}models/recurrent/lstm-1layer.onnx`;
const NODE = '/rnn/LSTM';
interface Named {
  shape: number[];
  data: number[];
}
const CASE = (JSON.parse(readFileSync(`${FIXTURES}models/recurrent/expected.json`, 'utf8')) as Record<string, { inputs: Record<string, Named> }>)['lstm-1layer'];
const [T, N, F] = CASE.inputs.x.shape;
const H = 7;

const quantize = (v: number, s: number, bits: number) => Math.round(Math.max(-1, Math.min(1, v / s)) * (2 ** bits - 1));
function weights(w: Float32Array, bits: number): number[] {
  const max = w.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
  const n = 2 ** bits - 1;
  return Array.from(w, (v) => (Math.sign(v) * Math.round((Math.abs(v) / max) * n) * max) / n);
}
/** [high, low] parts of v's B-bit code (the high part keeps the top B_hb bits, truncated), in v's units. */
function split(v: number, s: number, layer: RecurrentGateLayer): [number, number] {
  const q = quantize(v, s, layer.bits);
  const step = 2 ** (layer.bits - layer.hbits);
  const hb = Math.trunc(q / step) * step;
  const unit = s / (2 ** layer.bits - 1);
  return [hb * unit, (q - hb) * unit];
}
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** The gated LSTM's y [T, N, H] and the share of pre-activations left at B_hb bits. */
function reference(model: Model, layer: RecurrentGateLayer, delta: number[] | undefined): { y: number[]; sparsity: number } {
  const init = (i: number) => model.graph.initializers.get(model.graph.nodes.find((n) => n.name === NODE)!.inputs[i])!.data() as Float32Array;
  const w = weights(init(1), layer.wbits);
  const r = weights(init(2), layer.wbits);
  const b = init(3);
  const x = CASE.inputs.x.data;
  let h = CASE.inputs.h0.data.slice();
  let c = CASE.inputs.c0.data.slice();
  const y: number[] = [];
  let off = 0;
  for (let t = 0; t < T; t++) {
    const hNext: number[] = [];
    const cNext: number[] = [];
    for (let n = 0; n < N; n++) {
      const xs = Array.from({ length: F }, (_, f) => split(x[(t * N + n) * F + f], layer.inputScale as number, layer));
      const hs = Array.from({ length: H }, (_, k) => split(h[n * H + k], layer.stateScale, layer));
      const z = Array.from({ length: 4 * H }, (_, g) => {
        let zhb = b[g] + b[4 * H + g];
        let zlb = 0;
        for (let f = 0; f < F; f++) [zhb, zlb] = [zhb + w[g * F + f] * xs[f][0], zlb + w[g * F + f] * xs[f][1]];
        for (let k = 0; k < H; k++) [zhb, zlb] = [zhb + r[g * H + k] * hs[k][0], zlb + r[g * H + k] * hs[k][1]];
        const d = delta?.[g];
        // Δ is in the rule's statistic: knee's is the negated bound (|z_hb| < −Δ).
        const on = d === undefined || (layer.rule === 'above' ? zhb > d : layer.rule === 'magnitude' ? Math.abs(zhb) > d : -Math.abs(zhb) > d);
        if (!on) off++;
        return on ? zhb + zlb : zhb;
      });
      // ONNX's gate order i, o, f, c.
      for (let k = 0; k < H; k++) {
        const [i, o, f, g] = [sigmoid(z[k]), sigmoid(z[H + k]), sigmoid(z[2 * H + k]), Math.tanh(z[3 * H + k])];
        const cn = f * c[n * H + k] + i * g;
        cNext.push(cn);
        hNext.push(o * Math.tanh(cn));
      }
    }
    h = hNext;
    c = cNext;
    y.push(...h);
  }
  return { y, sparsity: off / (T * N * 4 * H) };
}

function runGated(model: Model, layer: RecurrentGateLayer): Float32Array {
  const exec = new Executor(model, { registry: recurrentGateRegistry(new Map([[NODE, layer]])) });
  try {
    const feed = (k: string) => tf.tensor(CASE.inputs[k].data, CASE.inputs[k].shape);
    return tf.tidy(() => exec.run({ x: feed('x'), h0: feed('h0'), c0: feed('c0') }).y.dataSync() as Float32Array);
  } finally {
    exec.dispose();
  }
}

const largestDifference = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

const base = { bits: 8, hbits: 4, wbits: 8, inputScale: 2.5, stateScale: 1 };

describe('gated LSTM (precision gating per unit and time step)', () => {
  it.each(RECURRENT_GATE_RULES)('rule %s: pg runs the gated LSTM as the reference does, gate decisions included', async (rule) => {
    const model = await readModel(MODEL);
    // Thresholds calibrated to half the pre-activations off, from the all-on run's z_hb of each unit.
    const samples: number[][] = Array.from({ length: 4 * H }, () => []);
    const record = (_d: number, zhb: tf.Tensor2D) => {
      const v = zhb.dataSync();
      for (let i = 0; i < v.length; i++) samples[i % (4 * H)].push(v[i]);
    };
    runGated(model, { ...base, rule, record });
    const delta = calibrateRecurrentGate(
      rule,
      samples.map((s) => Float32Array.from(s)),
      0.5,
    );
    const want = reference(model, { ...base, rule }, Array.from(delta));
    // Calibrated on the same run: half off, up to the units' own tie-free quantiles (18 samples each).
    expect(want.sparsity).toBeGreaterThan(0.4);
    expect(want.sparsity).toBeLessThan(0.6);
    const got = runGated(model, { ...base, rule, delta: tf.tensor2d(delta, [1, 4 * H]) });
    expect(largestDifference(got, want.y)).toBeLessThan(1e-4);
    // Gating changed the outputs: they differ from the static 8-bit LSTM's.
    const staticY = reference(model, { ...base, rule }, undefined).y;
    expect(largestDifference(got, staticY)).toBeGreaterThan(1e-3);
  });

  it('every gate on is the static B-bit LSTM; every gate off keeps only the high bits', async () => {
    const model = await readModel(MODEL);
    const layer = { ...base, rule: 'above' as RecurrentGateRule };
    const all = (v: number) => tf.fill([1, 4 * H], v) as tf.Tensor2D;
    const on = runGated(model, { ...layer, delta: all(-Infinity) });
    const staticY = reference(model, layer, undefined);
    expect(staticY.sparsity).toBe(0);
    expect(largestDifference(on, staticY.y)).toBeLessThan(1e-4);
    const off = runGated(model, { ...layer, delta: all(Infinity) });
    const hbOnly = reference(model, layer, new Array<number>(4 * H).fill(Infinity));
    expect(hbOnly.sparsity).toBe(1);
    expect(largestDifference(off, hbOnly.y)).toBeLessThan(1e-4);
  });

  it('calibration leaves the target share off under each rule', () => {
    const unit = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i * 12.9898) * 3);
    for (const rule of RECURRENT_GATE_RULES) {
      for (const sparsity of [0, 0.3, 0.9, 1]) {
        const [delta] = calibrateRecurrentGate(rule, [unit], sparsity);
        const off = unit.filter((z) => !(rule === 'above' ? z > delta : rule === 'magnitude' ? Math.abs(z) > delta : -Math.abs(z) > delta)).length;
        expect(off / unit.length, `${rule} at ${sparsity}`).toBeCloseTo(sparsity, 2);
      }
    }
  });

  it('calibration never puts Δ on a sample: a run of equal samples stays on one side, the cut at its nearer end', () => {
    // 10 samples: 1, 2, then seven 3s, then 4. A 50% cut would fall inside the run of 3s.
    const unit = Float32Array.from([3, 1, 3, 3, 4, 3, 2, 3, 3, 3]);
    const [half] = calibrateRecurrentGate('above', [unit], 0.5);
    // Nearer end of the run [2, 9): the cut before it (2 samples off) is 3 away from 5, the one after it 4.
    expect(half).toBe(2.5);
    const [most] = calibrateRecurrentGate('above', [unit], 0.8);
    expect(most).toBe(3.5);
    for (const rule of RECURRENT_GATE_RULES) {
      for (const sparsity of [0.1, 0.3, 0.5, 0.7, 0.9]) {
        const [delta] = calibrateRecurrentGate(rule, [unit], sparsity);
        const g = Array.from(unit, (z) => (rule === 'above' ? z : rule === 'magnitude' ? Math.abs(z) : -Math.abs(z)));
        expect(g.includes(delta), `${rule} at ${sparsity}: Δ ${delta} is a sample`).toBe(false);
      }
    }
  });
});
