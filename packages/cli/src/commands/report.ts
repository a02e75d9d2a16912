import { Args, Flags } from '@oclif/core';
import { checkFiniteWeights, measureReport, readModel, reportFromCounts, type Dataset, type ReportCounts, type ReportFacts } from '@pg/core';
import { costFlags } from '../cost-flags.js';
import { countFlag, inHelpGroup, nameListFlag, numberFlag, requiredDataFlags } from '../flags.js';
import { describePreprocess, openDataFor, skippedFilesWarning } from '../model-data.js';
import { assertOutputIsNotInput } from '../output-path.js';
import { comparedFigures, pricedReport, type ReportJson } from '../report-format.js';
import { ReportOutputCommand, reportOutputFlags } from '../report-output.js';
import { checkShardReportFlags, reportShardData, type ReportShardJson } from '../report-shard.js';
import { fileSha256, resolveShard, shardFlag } from '../shard-flags.js';

/** Decision maps drawn by --format html when --decision-maps is not given: enough to see the pattern, small file. */
const HTML_DECISION_MAPS = 4;

export default class Report extends ReportOutputCommand<typeof Report> {
  static override summary = "Measure a model's accuracy and whole-model cost on data, and its gated layers' sparsity and average bitwidth.";

  static override description = `Runs the model over the data set and reports its accuracy (and, with --baseline, the baseline's accuracy and the drop), then the whole network first: activation and weight bits per MAC over every conv/linear layer (signs counted as stored) and its bit-serial BitOps against the same network statically quantized at B and at 8 bits and a SeerNet-style predictor (whole_model); then the gated layers' own figures, labelled with the share of MACs they cover: the sparsity (the fraction of output elements that kept their low-precision value, also weighted by the MACs each update costs) and the average bitwidth B_avg = B_hb + (1 − Sp)·B_lb; and which activation scale (static or dynamic) the model uses. Per layer: op, bits, whether its input is signed, MACs and outputs per sample, the fraction updated to high precision, and threshold statistics.

--format md writes a Markdown report for a pull-request comment, --format html one self-contained HTML file with charts (high-precision fraction and MACs per layer, per-channel threshold histograms, accuracy against the whole model's activation bits with --compare, and decision maps: which output positions of each gated conv layer, and which output units of each gated linear layer, took the update, for the first --decision-maps samples). -o writes the report to a file instead of stdout.

--cost prices the whole network on device models (bit-serial, bit-fusion, gpu, cpu-int8) against the same network statically quantized at B and at 8 bits and a SeerNet-style predictor; --per-layer-sensitivity measures each gated layer alone at full precision and alone at prediction bits; --fail-if turns figures into CI gates (exit 10 when one fails, with the full report still printed).

The fields are described in docs/report-fields.md, the cost formulas in docs/cost-models.md.`;

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
    {
      description: 'Cost on every bundled device model, and fail CI if accuracy drops by more than 1 point',
      command: "<%= config.bin %> <%= command.id %> tuned.onnx --data fashion-mnist:test --baseline model.onnx --cost all --fail-if 'accuracy_drop>1%'",
    },
    {
      description: "Shard 2 of 4 of the evaluation (its part for 'pg report merge')",
      command: '<%= config.bin %> <%= command.id %> tuned.onnx --data fashion-mnist:test --baseline model.onnx --shard 2/4 --json > part-2.json',
    },
    {
      description: 'Which gated layer costs accuracy (on 1000 samples)',
      command: '<%= config.bin %> <%= command.id %> tuned.onnx --data fashion-mnist:test --per-layer-sensitivity --limit 1000',
    },
  ];

  static override args = {
    model: Args.string({ required: true, description: 'Model to measure (gated or not).' }),
  };

  static override flags = {
    ...inHelpGroup('DATA', requiredDataFlags),
    baseline: Flags.string({ helpValue: 'MODEL', summary: 'Also measure this model (usually the float original) and report the accuracy drop.' }),
    'batch-size': countFlag({ default: 256, helpValue: 'N', summary: 'Samples per batch (memory, not results).' }),
    limit: countFlag({ helpValue: 'N', summary: 'Use only the first N samples.' }),
    format: reportOutputFlags.format,
    output: reportOutputFlags.output,
    'decision-maps': numberFlag({ integer: true, min: 0 })({
      helpValue: 'N',
      summary: `Record which outputs of each gated layer were updated for the first N samples (default: ${HTML_DECISION_MAPS} with --format html or --decision-layers, else 0).`,
    }),
    'decision-layers': nameListFlag({
      helpValue: 'NODE',
      summary: 'Decision maps of these gated layers only (node names; repeat or comma-separate). Default: all gated layers.',
    }),
    compare: Flags.string({
      multiple: true,
      helpValue: 'MODEL',
      summary: "Also measure these models on the same data and compare accuracy against the whole model's activation bits (repeat the flag).",
    }),

    ...costFlags,
    'per-layer-sensitivity': Flags.boolean({
      summary: 'Also measure, per gated layer, the accuracy with that layer alone at full precision and alone at prediction bits.',
      description: 'Two extra passes over the data per gated layer: use --limit to keep it quick.',
    }),
    'fail-if': reportOutputFlags['fail-if'],
    ...inHelpGroup('SHARDING', { shard: shardFlag("Measure only shard K of N of the data (whole batches), a part for 'pg report merge' (with --json);") }),
  };

  public async run(): Promise<ReportJson> {
    const { args, flags } = this;
    const shard = resolveShard(flags.shard);
    if (shard) checkShardReportFlags(flags, this.jsonEnabled());
    if (flags.output !== undefined) await assertOutputIsNotInput(args.model, flags.output, false);
    // Flags are checked before any work: a malformed gate must not cost a full evaluation.
    const { gates, price } = await this.prepareOutput(flags, flags.baseline !== undefined);
    const model = await readModel(args.model);
    const baseline = flags.baseline === undefined ? undefined : await readModel(flags.baseline);
    const compared = await Promise.all((flags.compare ?? []).map(async (path) => ({ path, model: await readModel(path) })));
    for (const m of [model, baseline, ...compared.map((c) => c.model)]) if (m !== undefined) checkFiniteWeights(m);
    const { dataset, preprocess } = await openDataFor(model, flags, (m) => this.warn(m));
    const part = shard ? reportShardData(dataset, shard, flags['batch-size'], flags.limit) : undefined;
    const data = part?.data ?? dataset;
    const limit = part ? undefined : flags.limit;
    this.note(`Evaluating on ${data.name}, ${describePreprocess(preprocess)}...`);
    const decisionMaps = flags['decision-maps'] ?? (flags.format === 'html' || flags['decision-layers'] ? HTML_DECISION_MAPS : 0);
    const measured = await measureReport(model, data, {
      batchSize: flags['batch-size'],
      baseline,
      limit,
      // The maps show the first samples: the shard that holds them draws them.
      decisionMaps: part && part.samples.first > 0 ? 0 : decisionMaps,
      decisionLayers: flags['decision-layers'],
      sensitivity: flags['per-layer-sensitivity'],
      onSensitivityLayer: (name, i, n) => this.note(`Sensitivity ${i + 1}/${n}: ${name}...`),
    });
    // A shard's report names the whole data set; its `shard` block says which samples.
    measured.facts.data = dataset.name;
    const report = reportFromCounts(measured.facts, measured.counts);
    const result = pricedReport(report, price(report));
    if (result.act_scale === 'static-uncalibrated') {
      // Scales of 1 clip every activation above 1: the figures describe a model nobody would deploy.
      this.warn(
        `${args.model} has static activation scales that were never calibrated, so its accuracy is not meaningful. Calibrate them with 'pg finetune', or 'pg convert --data'.`,
      );
    }
    if (flags['per-layer-sensitivity'] && !result.sensitivity?.length) this.warn(`${args.model} has no gated layers: --per-layer-sensitivity has nothing to measure.`);
    const comparedMeasured: Array<{ model: string; facts: ReportFacts; counts: ReportCounts }> = [];
    for (const c of compared) {
      this.note(`Evaluating ${c.path}...`);
      const m = await measureReport(c.model, data, { batchSize: flags['batch-size'], limit });
      m.facts.data = dataset.name;
      comparedMeasured.push({ model: c.path, ...m });
    }
    if (compared.length > 0) result.compared = comparedMeasured.map((c) => comparedFigures(c.model, reportFromCounts(c.facts, c.counts), price));
    const skipped = skippedFilesWarning(dataset);
    if (skipped !== undefined) this.warn(skipped);
    if (part && shard) {
      const shardJson: ReportShardJson = {
        ...shard,
        samples: part.samples,
        identity: await this.identity(dataset, part.evaluated),
        counts: measured.counts,
        ...(compared.length > 0 ? { compared: comparedMeasured } : {}),
      };
      return this.writeReport({ ...result, shard: shardJson }, flags, gates);
    }
    return this.writeReport(result, flags, gates);
  }

  /** What a shard's report was computed from: `pg report merge` merges only shards that agree on all of it. */
  private async identity(dataset: Dataset, evaluated: number): Promise<Record<string, unknown>> {
    const { args, flags } = this;
    const hashed = async (path: string | undefined) => (path === undefined ? null : { sha256: await fileSha256(path) });
    return {
      pg_version: this.config.version,
      model: await hashed(args.model),
      baseline: await hashed(flags.baseline),
      compare: await Promise.all((flags.compare ?? []).map(hashed)),
      data: dataset.name,
      data_size: dataset.size,
      evaluated,
      batch_size: flags['batch-size'],
      labels: flags.labels ?? null,
      mean: flags.mean ?? null,
      std: flags.std ?? null,
      resize: flags.resize ?? null,
      crop: flags.crop ?? null,
      skip_bad: flags['skip-bad'] ?? false,
      decision_maps: flags['decision-maps'] ?? null,
      decision_layers: flags['decision-layers'] ?? null,
      per_layer_sensitivity: flags['per-layer-sensitivity'] ?? false,
    };
  }
}
