import { Args, Flags } from '@oclif/core';
import {
  DEFAULT_RECURRENT_GATE_RULE,
  RECURRENT_GATE_RULES,
  calibrateActScales,
  checkFiniteWeights,
  convertModel,
  readModel,
  UsageError,
  validateBits,
  writeModel,
  type ActScaleMode,
  type ConversionMode,
  type LayerDecision,
} from '@pg/core';
import { BaseCommand } from '../base-command.js';
import { bitsFlags, hbitsFor, placementFlags } from '../conversion-flags.js';
import { firstLayerBitsOption, inHelpGroup, optionalDataFlags, outputFlags, requireDataFor } from '../flags.js';
import { describePreprocess, openDataFor, skippedFilesWarning } from '../model-data.js';
import { assertOutputIsNotInput } from '../output-path.js';
import { renderConvert } from '../render/convert.js';
import { calibrationFlags } from '../training-flags.js';

/** `pg convert --json` result (schemas/convert.schema.json). */
export interface ConvertJson {
  /** The input model, as given. */
  model: string;
  /** The gated model written. */
  output: string;
  /** What the layers PG would gate became: pg (gated), static (quantized, no gate), seernet (SeerNet's gate). */
  mode: ConversionMode;
  bits: number;
  /** Prediction bits of the gated layers; null with --mode static. */
  hbits: number | null;
  wbits: number;
  /** Bits of the first layer (activations and weights) when quantized (the default); null: kept float (--first-layer-bits float). */
  first_layer_bits: number | null;
  act_scale: ActScaleMode;
  /** Whether static activation scales were calibrated from --data (otherwise finetune calibrates them). */
  calibrated: boolean;
  /** The data set used for calibration, or null. */
  data: string | null;
  layers: LayerDecision[];
  /** BatchNormalization nodes folded into the Conv/Gemm before them, and those left in place with why. */
  batch_normalization: BatchNormJson;
}

export interface BatchNormJson {
  folded: { node: string; into: string; negative_scales: number }[];
  kept: { node: string; reason: string }[];
}

export default class Convert extends BaseCommand<typeof Convert> {
  static override summary = 'Insert precision-gating layers into an ONNX model.';

  static override description = `Finds the layers to gate: Conv and Gemm layers whose output feeds a ReLU-like activation (possibly through BatchNormalization). The classifier stays float unless named with --include; the first layer is quantized statically at --first-layer-bits (8 by default, so every runtime takes the same gate decisions), or kept float with --first-layer-bits float. Each gated layer becomes a PGConv/PGGemm node that predicts its outputs from the top --hbits of a --bits-bit activation and adds the low bits only where the prediction passes a learned per-channel threshold. Layers between gated ones are quantized statically (QConv/QGemm). Thresholds start at 0; run 'pg finetune' to train them.

With --act-scale static (the default, what integer hardware needs) activation scales are fixed per layer; --data calibrates them now, otherwise 'pg finetune' does. --act-scale dynamic uses the paper's per-sample max.

The output is a valid ONNX model: the pg nodes live in the org.precisiongating domain and carry a model-local function of standard ops, so ONNX Runtime loads it (docs/gated-format.md).`;

  static override examples = [
    {
      description: 'Gate a model at 4 bits with 2-bit predictions and 8-bit weights',
      command: '<%= config.bin %> <%= command.id %> model.onnx -o gated.onnx --bits 4 --hbits 2 --wbits 8',
    },
    {
      description: 'Calibrate the static activation scales from data while converting',
      command: '<%= config.bin %> <%= command.id %> model.onnx -o gated.onnx --data fashion-mnist:train',
    },
    {
      description: 'Keep one layer float and print the decisions as JSON',
      command: "<%= config.bin %> <%= command.id %> model.onnx -o gated.onnx --exclude '/layer1/layer1.0/conv1/Conv' --json",
    },
  ];

  static override args = {
    model: Args.string({ required: true, description: 'ONNX model to convert (float, e.g. exported by PyTorch).' }),
  };

  static override flags = {
    ...outputFlags,
    ...bitsFlags,
    ...placementFlags,
    ...inHelpGroup('PLACEMENT', {
      'recurrent-rule': Flags.option({ options: RECURRENT_GATE_RULES, default: DEFAULT_RECURRENT_GATE_RULE })({
        summary:
          'Gate rule of gated LSTMs and GRUs: knee (|z_hb| < Δ: the pre-activations where sigmoid and tanh are steep; best measured), above (z_hb > Δ, the ReLU rule), magnitude (|z_hb| > Δ).',
      }),
    }),
    ...inHelpGroup('DATA', optionalDataFlags),
    ...calibrationFlags,
  };

  public async run(): Promise<ConvertJson> {
    const { args, flags } = this;
    const mode = flags.mode;
    const bits = { bits: flags.bits, hbits: hbitsFor(mode, flags.hbits), wbits: flags.wbits };
    const firstLayerBits = firstLayerBitsOption(flags['first-layer-bits']);
    validateBits({ ...bits, firstLayerBits, mode, gateResidual: flags['gate-residual'] });
    requireDataFor(flags);
    const actScale = flags['act-scale'];
    if (flags.data !== undefined && actScale === 'dynamic') {
      throw new UsageError('--data calibrates static activation scales, but --act-scale dynamic has none to calibrate.', {
        action: 'Leave out --data, or use --act-scale static.',
      });
    }
    await assertOutputIsNotInput(args.model, flags.output, flags.force);

    const model = await readModel(args.model);
    checkFiniteWeights(model);
    const data = flags.data === undefined ? undefined : await openDataFor(model, { ...flags, data: flags.data }, (m) => this.warn(m));
    const converted = convertModel(model, {
      ...bits,
      actScale,
      include: flags.include,
      exclude: flags.exclude,
      gateDepthwise: flags['gate-depthwise'],
      gateResidual: flags['gate-residual'],
      firstLayerBits,
      mode,
      recurrentRule: flags['recurrent-rule'],
    });

    let gated = converted.model;
    if (data !== undefined) {
      this.note(`Calibrating activation scales on ${data.dataset.name}, ${describePreprocess(data.preprocess)}...`);
      gated = await calibrateActScales(gated, data.dataset, {
        batches: flags['calibration-batches'],
        batchSize: flags['batch-size'],
        seed: flags.seed,
      });
      const skipped = skippedFilesWarning(data.dataset);
      if (skipped !== undefined) this.warn(skipped);
    }
    await writeModel(gated, flags.output);

    const result: ConvertJson = {
      model: args.model,
      output: flags.output,
      mode,
      ...bits,
      hbits: mode === 'static' ? null : bits.hbits,
      first_layer_bits: firstLayerBits ?? null,
      act_scale: actScale,
      calibrated: data !== undefined,
      data: data?.dataset.name ?? null,
      layers: converted.layers,
      batch_normalization: {
        folded: converted.batchNormalization.folded.map((f) => ({ node: f.node, into: f.into, negative_scales: f.negativeScales })),
        kept: converted.batchNormalization.kept,
      },
    };
    this.log(renderConvert(result));
    return result;
  }
}
