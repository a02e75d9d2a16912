import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  calibrate,
  convertModel,
  Executor,
  FINETUNE_DEFAULTS,
  finetune,
  isPgRecurrentNode,
  OBSERVE,
  firstBatch,
  openDataset,
  opRegistry,
  readModel,
  toTfTensor,
  constTensor,
  type Batch,
  type ConversionMode,
  type Model,
  type Node,
} from '@pg/core/internal';

export const FIXTURES = fileURLToPath(new URL('../../../../fixtures/', import.meta.url));
export const fixtureModel = (name: string) => `${FIXTURES}models/${name}.onnx`;
export const hasFixture = (name: string) => existsSync(fixtureModel(name));
/** Appended to a title: ` (skipped: ...)` when the fixture is missing (the run's skip summary groups by it). */
export const fixtureSkipNote = (name: string) => (hasFixture(name) ? '' : ` (skipped: no fixture ${fixtureModel(name)}: regenerate with fixtures/make_fixtures.py)`);
/** The fixtures' preprocessing (also in their metadata). */
export const FMNIST_NORM = { mean: [0.286], std: [0.353] };

/**
 * A realistic gated model: the bundled fixture converted (4/2/8 bits, static scale), its activation scales
 * and thresholds calibrated on a seeded sample of the bundled training data (85% of updates skipped).
 * `include` gates extra layers (e.g. the classifier, to cover PGGemm); `firstLayerBits` quantizes the stem;
 * `gateResidual` gates layers on the sum with their residual;
 * `finetuneSteps` then fine-tunes thresholds, scales and weights that many steps.
 */
export async function calibratedGatedModel(
  name: string,
  opts: { include?: string[]; batches?: number; firstLayerBits?: number; gateResidual?: boolean; finetuneSteps?: number; mode?: ConversionMode } = {},
): Promise<Model> {
  const float = await readModel(fixtureModel(name));
  const { model } = convertModel(float, {
    bits: 4,
    hbits: 2,
    wbits: 8,
    actScale: 'static',
    include: opts.include,
    firstLayerBits: opts.firstLayerBits,
    gateResidual: opts.gateResidual,
    mode: opts.mode,
  });
  const train = await openDataset('fashion-mnist:train?source=bundled', FMNIST_NORM);
  const calibrated = await calibrate(model, train, { batches: opts.batches ?? 1, batchSize: 32, seed: 0, scales: true, targetSparsity: 0.85 });
  if (!opts.finetuneSteps) return calibrated;
  const settings = { ...FINETUNE_DEFAULTS, maxSteps: opts.finetuneSteps, batchSize: 32, trainWeights: true, targetSparsity: 0.85, workers: 1 };
  return (await finetune(calibrated, train, settings)).model;
}

/** The first `n` samples of the bundled test data. */
export async function testBatch(n: number): Promise<Batch> {
  const ds = await openDataset('fashion-mnist:test?source=bundled', FMNIST_NORM);
  return firstBatch(ds.batches(n, { limit: n }));
}

/** A host tensor in ONNX's logical layout (NCHW for activations). */
export interface HostArray {
  shape: number[];
  data: Float32Array;
}

/** NHWC -> NCHW on the host (pg's kernels see and report rank-4 activations as NHWC). */
export function nhwcToNchw(t: HostArray): HostArray {
  if (t.shape.length !== 4) return t;
  const [n, h, w, c] = t.shape;
  const out = new Float32Array(t.data.length);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) out[((b * c + k) * h + y) * w + x] = t.data[((b * h + y) * w + x) * c + k];
  return { shape: [n, c, h, w], data: out };
}

export interface PgRun {
  outputs: Record<string, HostArray>;
  /** Per gated node: the gate M (1 = updated), NCHW / [N, C]. */
  gates: Map<string, HostArray>;
  /** Per pg node: the input it received, NCHW / [N, K]. */
  layerInputs: Map<string, HostArray>;
  /** Per gated node: the prediction O_hb, NCHW / [N, C] (a recurrent layer: the statistic its gate compares, [N, T, D, G·H]). */
  predictions: Map<string, HostArray>;
}

/** Runs the gated model with pg's own kernels and records each pg layer's gate and input. */
export function runPg(model: Model, batch: Batch, outputs: string[] = model.graph.outputs.map((o) => o.name)): PgRun {
  const exec = new Executor(model, { registry: opRegistry });
  const gates = new Map<string, HostArray>();
  const layerInputs = new Map<string, HostArray>();
  const predictions = new Map<string, HostArray>();
  const host = (t: { shape: number[]; dataSync(): ArrayLike<number> }): HostArray => ({ shape: t.shape.slice(), data: Float32Array.from(t.dataSync()) });
  try {
    const x = toTfTensor(constTensor('x', 'float32', batch.shape, batch.x));
    const out = exec.run(
      { [model.graph.inputs[0].name]: x },
      {
        outputs,
        observer: {
          wants: (_n: Node, k: string) => k === OBSERVE.gate || k === OBSERVE.input || k === OBSERVE.prediction,
          observe: (n: Node, k: string, t) => {
            // A recurrent layer's observations are [N, T, D, G·H] (and x [T, N, F]), not images.
            (k === OBSERVE.gate ? gates : k === OBSERVE.input ? layerInputs : predictions).set(n.name, isPgRecurrentNode(n) ? host(t) : nhwcToNchw(host(t)));
          },
        },
      },
    );
    x.dispose();
    const result: Record<string, HostArray> = {};
    for (const [name, t] of Object.entries(out)) {
      result[name] = host(t);
      t.dispose();
    }
    return { outputs: result, gates, layerInputs, predictions };
  } finally {
    exec.dispose();
  }
}
