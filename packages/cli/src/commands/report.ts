import { Args, Flags } from '@oclif/core';
import { checkFiniteWeights, readModel, reportModel, type ReportResult } from '@pg/core';
import { BaseCommand } from '../base-command.js';
import { numberFlag, requiredDataFlags } from '../flags.js';
import { describePreprocess, openDataFor } from '../model-data.js';
import { renderReport } from '../render/report.js';

export default class Report extends BaseCommand<typeof Report> {
  static override summary = 'Measure accuracy, sparsity and average bitwidth of a gated model on data.';

  static override description = `Runs the model over the data set and reports its accuracy (and, with --baseline, the baseline's accuracy and the drop), the sparsity of the gated layers (the fraction of output elements that kept their low-precision value, also weighted by the MACs each update costs), the average bitwidth B_avg = B_hb + (1 − Sp)·B_lb, the compute reduction B / B_avg, and which activation scale (static or dynamic) the model uses. Per layer: op, bits, MACs and outputs per sample, the fraction updated to high precision, and threshold statistics.

The fields are described in docs/report-fields.md.`;

  static override examples = [
    {
      description: 'Report a fine-tuned model against its float original',
      command: '<%= config.bin %> <%= command.id %> tuned.onnx --data fashion-mnist:test --baseline model.onnx',
    },
    {
      description: 'A quick look at the first 1000 samples, as JSON',
      command: '<%= config.bin %> <%= command.id %> tuned.onnx --data fashion-mnist:test --limit 1000 --json',
    },
  ];

  static override args = {
    model: Args.string({ required: true, description: 'Model to measure (gated or not).' }),
  };

  static override flags = {
    ...requiredDataFlags,
    baseline: Flags.string({ helpValue: 'MODEL', summary: 'Also measure this model (usually the float original) and report the accuracy drop.' }),
    'batch-size': numberFlag({ integer: true, min: 1 })({ default: 256, summary: 'Samples per batch (memory, not results).' }),
    limit: numberFlag({ integer: true, min: 1 })({ helpValue: 'N', summary: 'Use only the first N samples.' }),
  };

  public async run(): Promise<ReportResult> {
    const { args, flags } = this;
    const model = await readModel(args.model);
    const baseline = flags.baseline === undefined ? undefined : await readModel(flags.baseline);
    checkFiniteWeights(model);
    if (baseline !== undefined) checkFiniteWeights(baseline);
    const { dataset, preprocess } = await openDataFor(model, flags);
    this.note(`Evaluating on ${dataset.name}, ${describePreprocess(preprocess)}...`);
    const result = await reportModel(model, dataset, { batchSize: flags['batch-size'], baseline, limit: flags.limit });
    if (result.act_scale === 'static-uncalibrated') {
      // Scales of 1 clip every activation above 1: the figures describe a model nobody would deploy.
      this.warn(`${args.model} has static activation scales that were never calibrated, so its accuracy is not meaningful. Calibrate them with 'pg finetune', or 'pg convert --data'.`);
    }
    this.log(renderReport(result));
    return result;
  }
}
