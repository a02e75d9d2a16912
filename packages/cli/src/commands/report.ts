import { Args, Flags } from '@oclif/core';
import { readModel, reportModel, UsageError, writeFileAtomic } from '@pg/core';
import { BaseCommand } from '../base-command.js';
import { numberFlag, requiredDataFlags } from '../flags.js';
import { describePreprocess, openDataFor } from '../model-data.js';
import { assertOutputIsNotInput } from '../output-path.js';
import { formatReport, REPORT_FORMATS, type ComparedModel, type ReportJson } from '../report-format.js';

/** Decision maps drawn by --format html when --decision-maps is not given: enough to see the pattern, small file. */
const HTML_DECISION_MAPS = 4;

export default class Report extends BaseCommand<typeof Report> {
  static override summary = 'Measure accuracy, sparsity and average bitwidth of a gated model on data.';

  static override description = `Runs the model over the data set and reports its accuracy (and, with --baseline, the baseline's accuracy and the drop), the sparsity of the gated layers (the fraction of output elements that kept their low-precision value, also weighted by the MACs each update costs), the average bitwidth B_avg = B_hb + (1 − Sp)·B_lb, the compute reduction B / B_avg, and which activation scale (static or dynamic) the model uses. Per layer: op, bits, MACs and outputs per sample, the fraction updated to high precision, and threshold statistics.

--format md writes a Markdown report for a pull-request comment, --format html one self-contained HTML file with charts (high-precision fraction and MACs per layer, per-channel threshold histograms, accuracy against B_avg with --compare, and decision maps: which output positions of each gated conv layer took the update, for the first --decision-maps samples). -o writes the report to a file instead of stdout.

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
    {
      description: 'An HTML report with charts, comparing two configurations',
      command: '<%= config.bin %> <%= command.id %> tuned-4-2.onnx --compare tuned-3-1.onnx --data fashion-mnist:test --format html -o report.html',
    },
    {
      description: 'A Markdown summary for a pull-request comment',
      command: '<%= config.bin %> <%= command.id %> tuned.onnx --data fashion-mnist:test --format md -o report.md',
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
    format: Flags.option({ options: REPORT_FORMATS, default: 'text' as const })({
      summary: 'Report format: text (terminal), json (the --json result alone), md (pull-request comment) or html (one file with charts).',
    }),
    output: Flags.string({ char: 'o', helpValue: 'FILE', summary: 'Write the report to FILE (atomically) instead of stdout.' }),
    'decision-maps': numberFlag({ integer: true, min: 0 })({
      helpValue: 'N',
      summary: `Record which outputs of each gated conv layer were updated for the first N samples (default: ${HTML_DECISION_MAPS} with --format html, else 0).`,
    }),
    compare: Flags.string({
      multiple: true,
      helpValue: 'MODEL',
      summary: 'Also measure these models on the same data and compare accuracy against B_avg (repeat the flag).',
    }),
  };

  public async run(): Promise<ReportJson> {
    const { args, flags } = this;
    const format = flags.format;
    if (this.jsonEnabled() && format !== 'text' && flags.output === undefined) {
      throw new UsageError(`--format ${format} with --json needs -o FILE: stdout holds the JSON envelope.`, {
        action: `Add -o FILE to write the ${format} report to a file, or leave out --json.`,
      });
    }
    if (flags.output !== undefined) await assertOutputIsNotInput(args.model, flags.output, false);
    const model = await readModel(args.model);
    const baseline = flags.baseline === undefined ? undefined : await readModel(flags.baseline);
    const compared = await Promise.all((flags.compare ?? []).map(async (path) => ({ path, model: await readModel(path) })));
    const { dataset, preprocess } = await openDataFor(model, flags);
    this.note(`Evaluating on ${dataset.name}, ${describePreprocess(preprocess)}...`);
    const decisionMaps = flags['decision-maps'] ?? (format === 'html' ? HTML_DECISION_MAPS : 0);
    const result: ReportJson = await reportModel(model, dataset, { batchSize: flags['batch-size'], baseline, limit: flags.limit, decisionMaps });
    if (result.act_scale === 'static-uncalibrated') {
      // Scales of 1 clip every activation above 1: the figures describe a model nobody would deploy.
      this.warn(`${args.model} has static activation scales that were never calibrated, so its accuracy is not meaningful. Calibrate them with 'pg finetune', or 'pg convert --data'.`);
    }
    if (compared.length > 0) {
      const figures: ComparedModel[] = [];
      for (const c of compared) {
        this.note(`Evaluating ${c.path}...`);
        const r = await reportModel(c.model, dataset, { batchSize: flags['batch-size'], limit: flags.limit });
        figures.push({ model: c.path, accuracy: r.accuracy, bavg: r.bavg, sparsity: r.sparsity, bits: r.bits, hbits: r.hbits });
      }
      result.compared = figures;
    }
    const text = formatReport(result, format);
    if (flags.output !== undefined) {
      await writeFileAtomic(flags.output, text);
      this.note(`Wrote the ${format} report to ${flags.output}.`);
    } else if (!this.jsonEnabled()) {
      process.stdout.write(text);
    }
    return result;
  }
}
