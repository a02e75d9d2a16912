import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FINETUNE_DEFAULTS,
  FIRST_LAYER_BITS_DEFAULT,
  convertModel,
  finetune,
  initBackend,
  isPgNode,
  maxRelativeDifference,
  firstBatch,
  openDataset,
  readModel,
  reportModel,
  runModel,
  writeModel,
  type Batch,
  type Dataset,
  type HostTensor,
  type Model,
  type Node,
} from '../src/internal.js';
import { runOrtGates, runPgGates } from './support/gate-runs.js';

// The models users bring: torchvision's classifiers with random weights, exported by PyTorch at
// opsets 9 to 17 by fixtures/zoo/make_zoo.py into a cache (too large to commit). For each one: pg runs the
// float model like ONNX Runtime, converts it to a gated model that ONNX Runtime runs (through the model-local
// function bodies) like pg does, and fine-tunes and reports it on the default backend.

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ZOO = process.env.PG_ZOO_DIR ? resolve(process.env.PG_ZOO_DIR) : join(ROOT, '.cache', 'zoo');
const GENERATE = '/usr/bin/python3 fixtures/zoo/make_zoo.py (Debian python3-torchvision; or set PG_ZOO_DIR)';

interface ZooEntry {
  name: string;
  architecture: string;
  file: string;
  data: string;
  opset: number;
  input_shape: (number | string)[];
  bench: boolean;
}

function zooModels(): ZooEntry[] | undefined {
  const manifest = join(ZOO, 'manifest.json');
  if (!existsSync(manifest)) return undefined;
  const entries = (JSON.parse(readFileSync(manifest, 'utf8')) as { models: ZooEntry[] }).models;
  return entries.filter((e) => !e.bench && existsSync(join(ZOO, e.file)) && existsSync(join(ZOO, e.data)));
}

/** Agreement asked by the issue: max |pg - ORT| / max |ORT| on the logits. */
const TOLERANCE = 1e-4;
/** Samples run through both runtimes (the data file holds 4). */
const SAMPLES = 2;
/** pg convert's defaults: 4/2 bits, 8-bit weights, static scales, the first layer at 8 bits. */
const BITS = { bits: 4, hbits: 2, wbits: 8, actScale: 'static', firstLayerBits: FIRST_LAYER_BITS_DEFAULT } as const;
/** End to end, logits: the float layers (classifier, average pools) round in each runtime's order. */
const GATED_TOLERANCE = 1e-5;

const models = zooModels();
const plainAgreement = new Map<string, number>();

/** The inputs of a pg layer that other ops compute: its activation, and a residual gate's offset. */
const computedInputs = (gated: Model, layer: Node) => layer.inputs.filter((name) => name !== '' && !gated.graph.initializers.has(name));

/** A model of one pg layer of `gated`: its computed inputs (shaped as in `values`) as graph inputs, its constants, output Y. */
function singleNodeModel(gated: Model, layer: Node, values: Record<string, HostTensor>): Model {
  const constants = layer.inputs.filter((name) => gated.graph.initializers.has(name));
  return {
    ...gated,
    sourcePath: undefined,
    graph: {
      name: layer.name,
      nodes: [{ ...layer, outputs: ['Y'] }],
      initializers: new Map(constants.map((name) => [name, gated.graph.initializers.get(name)!])),
      inputs: computedInputs(gated, layer).map((name) => ({ name, dtype: 'float32' as const, shape: values[name].shape })),
      outputs: [{ name: 'Y', dtype: 'float32' }],
      valueInfo: new Map(),
    },
  };
}
const tmp = mkdtempSync(join(tmpdir(), 'pg-zoo-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

if (models === undefined || models.length === 0) {
  describe('torchvision zoo against ONNX Runtime', () => {
    it.skip(`skipped: no zoo in ${ZOO}; generate it with ${GENERATE}`, () => {});
  });
} else {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  for (const entry of models) {
    describe(`${entry.name} (opset ${entry.opset}, ${entry.input_shape.slice(1).join('x')})`, () => {
      let model: Model;
      let data: Dataset;
      let feeds: Record<string, HostTensor>;
      let batch: Batch;

      beforeAll(async () => {
        model = await readModel(join(ZOO, entry.file));
        data = await openDataset(join(ZOO, entry.data));
        batch = await firstBatch(data.batches(SAMPLES, { limit: SAMPLES }));
        feeds = { [model.graph.inputs[0].name]: { dtype: 'float32', shape: batch.shape, data: batch.x } };
      });

      const logits = async (m: Model, engine: 'wasm' | 'onnxruntime') => {
        const run = await runModel(m, feeds, { engine });
        return run.outputs[m.graph.outputs[0].name].data as Float32Array;
      };

      it('runs the float model like ONNX Runtime', async () => {
        const ours = await logits(model, 'wasm');
        const theirs = await logits(model, 'onnxruntime');
        expect(ours.length).toBe(SAMPLES * 1000);
        plainAgreement.set(entry.name, maxRelativeDifference(ours, theirs));
        expect(maxRelativeDifference(ours, theirs)).toBeLessThanOrEqual(TOLERANCE);
      });

      it('converts with the defaults to a gated model that ONNX Runtime runs like pg, every gate decision alike', async () => {
        // `pg convert` without --data: static scales at their start value (calibrating them layer by layer
        // costs more than the rest of this file; bench and the bundled-model tests cover calibration).
        const converted = convertModel(model, BITS);
        expect(converted.layers.some((l) => l.gated)).toBe(true);
        // The first layer is quantized at 8 bits (convert's default) and the classifier stays float: SqueezeNet's
        // classifier is a conv followed by a ReLU.
        expect(converted.layers[0]).toMatchObject({ gated: false, bits: BITS.firstLayerBits, reason: expect.stringMatching(/^first layer/) });
        expect(converted.layers.at(-1)).toMatchObject({ gated: false, bits: null, reason: expect.stringMatching(/^classifier/) });
        const path = join(tmp, `${entry.name}.gated.onnx`);
        await writeModel(converted.model, path);
        const gated = await readModel(path);
        // Layer by layer: every pg layer, given the input ONNX Runtime computed for it, gives ONNX Runtime's
        // output (its function body) to 1e-4. Whole-model logits can differ by more: float rounding that
        // differs between the runtimes (1e-7) moves an activation across a quantization step now and then,
        // and that one-step difference is carried through the later layers. The whole-model figure is
        // printed for docs/models.md.
        const layers = gated.graph.nodes.filter(isPgNode);
        const probes = [...new Set(layers.flatMap((n) => [...computedInputs(gated, n), n.outputs[0]]))];
        const withProbes: Model = {
          ...gated,
          sourcePath: undefined,
          graph: { ...gated.graph, outputs: [...gated.graph.outputs, ...probes.map((name) => ({ name, dtype: 'float32' as const }))] },
        };
        const reference = (await runModel(withProbes, feeds, { engine: 'onnxruntime', outputs: probes })).outputs;
        let worst = 0;
        for (const layer of layers) {
          const fed = Object.fromEntries(computedInputs(gated, layer).map((name) => [name, reference[name]]));
          const ours = await runModel(singleNodeModel(gated, layer, reference), fed, { engine: 'wasm' });
          const d = maxRelativeDifference(ours.outputs.Y.data as Float32Array, reference[layer.outputs[0]].data as Float32Array);
          expect.soft(d, `${layer.opType} ${layer.name}`).toBeLessThanOrEqual(TOLERANCE);
          worst = Math.max(worst, d);
        }
        // End to end, with the first layer quantized (the default): every gate decision is the same in both
        // runtimes. The path from the input to a gate is integer accumulations and elementwise ops, except
        // where a model sums floats in front of a gate (average pooling, a squeeze-excitation's mean): there a
        // gate's input can differ in the last bit, and no decision did.
        const ours = runPgGates(gated, batch);
        const theirs = await runOrtGates(gated, join(tmp, `${entry.name}.gates.onnx`), batch);
        let decisions = 0;
        let differing = 0;
        let inputsDiffering = 0;
        for (const [layer, mask] of theirs.gates) {
          const mine = ours.gates.get(layer)!;
          decisions += mask.length;
          for (let i = 0; i < mask.length; i++) if (mask[i] !== mine[i]) differing++;
          const a = theirs.inputs.get(layer)!.data;
          const b = ours.inputs.get(layer)!.data;
          for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) inputsDiffering++;
        }
        const whole = maxRelativeDifference(ours.output, theirs.output);
        console.log(
          `zoo ${entry.name}: plain ${plainAgreement.get(entry.name)?.toExponential(2)}, gated layers worst ${worst.toExponential(2)} (${layers.length} layers), ` +
            `gated whole model ${whole.toExponential(2)}, ${differing} of ${decisions} gate decisions differ, ${inputsDiffering} gated-layer input values differ`,
        );
        expect(decisions).toBeGreaterThan(0);
        expect(differing).toBe(0);
        expect(whole).toBeLessThanOrEqual(GATED_TOLERANCE);
        // and the gating changed something: the gated model is not the float one
        expect(maxRelativeDifference(ours.output, await logits(model, 'wasm'))).toBeGreaterThan(TOLERANCE);
      });

      it('fine-tunes thresholds and weights (gradients through every op) and reports', async () => {
        // Dynamic activation scales and no target: nothing to calibrate first, so the two steps are the cost.
        const { model: gated } = convertModel(model, { ...BITS, actScale: 'dynamic' });
        const { model: tuned, result } = await finetune(gated, data, { ...FINETUNE_DEFAULTS, maxSteps: 2, batchSize: 2, trainWeights: true, targetSparsity: 'none' });
        expect(result.steps).toBe(2);
        expect(Number.isFinite(result.final_loss)).toBe(true);
        const report = await reportModel(tuned, data, { batchSize: 4, limit: 4 });
        const gatedLayers = report.layers.filter((l) => l.gated);
        expect(gatedLayers.length).toBeGreaterThan(0);
        expect(report.sparsity).toBeGreaterThanOrEqual(0);
        expect(report.sparsity).toBeLessThanOrEqual(1);
        expect(Number.isFinite(report.bavg)).toBe(true);
      });
    });
  }
}
