import { Args } from '@oclif/core';
import { inspectModel, readModel, type InspectResult } from '@pg/core';
import { BaseCommand } from '../base-command.js';
import { placementFlags } from '../conversion-flags.js';
import { renderInspect } from '../render/inspect.js';

export default class Inspect extends BaseCommand<typeof Inspect> {
  static override summary = 'Describe a model: inputs, outputs, ops, per-layer MACs and parameters, and what pg convert would gate.';

  static override description = `Prints the model's IR version, opset imports and producer; its inputs and outputs with their shapes (symbolic dimensions by name); how many nodes of each op it has, and which ops pg cannot run; and for every Conv/Gemm layer (and pg's PGConv/PGGemm/QConv/QGemm) its output shape, parameters and MACs per sample, with what 'pg convert' would do with it and why. For a gated model it gives pg's bits per layer instead.

Output shapes come from running the model once on zeros (batch 1 for a symbolic batch dimension) with --backend. An op pg cannot run does not make inspect fail: it is listed, and the layers after it have no MACs.`;

  static override examples = [
    { description: 'Describe a model', command: '<%= config.bin %> <%= command.id %> model.onnx' },
    { description: 'The same as JSON', command: '<%= config.bin %> <%= command.id %> model.onnx --json' },
  ];

  static override args = {
    model: Args.string({ required: true, description: 'ONNX model to describe (plain or gated).' }),
  };

  static override flags = {
    'gate-depthwise': placementFlags['gate-depthwise'],
    'gate-residual': placementFlags['gate-residual'],
  };

  public async run(): Promise<InspectResult> {
    const { args, flags } = this;
    const model = await readModel(args.model);
    const result = inspectModel(model, { gateDepthwise: flags['gate-depthwise'], gateResidual: flags['gate-residual'] });
    this.log(renderInspect(result));
    return result;
  }
}
