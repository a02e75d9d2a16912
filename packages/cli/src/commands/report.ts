import { Args, Flags } from '@oclif/core';
import { checkFiniteWeights, checkGates, COST_GATE_FIELDS, GATE_FIELDS, gateCostModel, layerSensitivity, parseGate, readModel, reportModel, UsageError, writeFileAtomic } from '@pg/core';
import { COST_MODELS, reportPricing, selectProfiles } from '@pg/exporters';
import { BaseCommand } from '../base-command.js';
import { GATE_FAILED_STATUS, type SuccessEnvelope } from '../envelope.js';
import { costFlags } from '../cost-flags.js';
import { countFlag, inHelpGroup, nameListFlag, numberFlag, requiredDataFlags } from '../flags.js';
import { describePreprocess, openDataFor, skippedFilesWarning } from '../model-data.js';
import { assertOutputIsNotInput } from '../output-path.js';
import { formatReport, pricedReport, REPORT_FORMATS, type ComparedModel, type ReportJson } from '../report-format.js';
import { renderFailedGates } from '../render/report-extras.js';

/** Decision maps drawn by --format html when --decision-maps is not given: enough to see the pattern, small file. */
const HTML_DECISION_MAPS = 4;

export default class Report extends BaseCommand<typeof Report> {
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
    format: Flags.option({ options: REPORT_FORMATS, default: 'text' as const })({
      summary: 'Report format: text (terminal), json (the --json result alone), md (pull-request comment) or html (one file with charts).',
    }),
    output: Flags.string({ char: 'o', helpValue: 'FILE', summary: 'Write the report to FILE (atomically) instead of stdout.' }),
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
    'fail-if': Flags.string({
      multiple: true,
      multipleNonGreedy: true,
      helpValue: 'EXPR',
      summary: "Exit 10 if this condition holds, e.g. 'accuracy_drop>1%' or 'whole_model.bitops_vs_static_b>0.9'; repeatable.",
      description: `FIELD OP NUMBER with OP one of > >= < <= == !=; a number ending in % is divided by 100. Fields: ${GATE_FIELDS.join(', ')}, cost.MODEL.{${COST_GATE_FIELDS.join(',')}}. The full report is still printed.`,
    }),
  };

  private gatesFailed = false;

  protected override toSuccessJson(result: unknown): SuccessEnvelope<unknown> {
    return { ...super.toSuccessJson(result), status: this.gatesFailed ? GATE_FAILED_STATUS : 0 };
  }

  public async run(): Promise<ReportJson> {
    const { args, flags } = this;
    const format = flags.format;
    if (this.jsonEnabled() && format !== 'text' && flags.output === undefined) {
      throw new UsageError(`--format ${format} with --json needs -o FILE: stdout holds the JSON envelope.`, {
        action: `Add -o FILE to write the ${format} report to a file, or leave out --json.`,
      });
    }
    if (flags.output !== undefined) await assertOutputIsNotInput(args.model, flags.output, false);
    // Flags are checked before any work: a malformed gate must not cost a full evaluation.
    const gates = (flags['fail-if'] ?? []).map((e) => parseGate(e, [...COST_MODELS.keys()]));
    const needsBaseline = gates.find((g) => g.field === 'accuracy_drop' || g.field === 'baseline_accuracy');
    if (needsBaseline && flags.baseline === undefined) {
      throw new UsageError(`--fail-if '${needsBaseline.expression}' needs --baseline`, { action: 'give the float model with --baseline MODEL, or gate on accuracy instead' });
    }
    // A cost gate prices its model even when --cost does not name it.
    const costNames = [flags.cost, ...gates.map(gateCostModel)].filter((n): n is string => n !== undefined);
    const profiles = await selectProfiles(costNames.length ? costNames.join(',') : undefined, flags.profile ?? []);
    const price = await reportPricing(profiles);
    const model = await readModel(args.model);
    const baseline = flags.baseline === undefined ? undefined : await readModel(flags.baseline);
    const compared = await Promise.all((flags.compare ?? []).map(async (path) => ({ path, model: await readModel(path) })));
    for (const m of [model, baseline, ...compared.map((c) => c.model)]) if (m !== undefined) checkFiniteWeights(m);
    const { dataset, preprocess } = await openDataFor(model, flags, (m) => this.warn(m));
    this.note(`Evaluating on ${dataset.name}, ${describePreprocess(preprocess)}...`);
    const decisionMaps = flags['decision-maps'] ?? (format === 'html' || flags['decision-layers'] ? HTML_DECISION_MAPS : 0);
    const measured = await reportModel(model, dataset, { batchSize: flags['batch-size'], baseline, limit: flags.limit, decisionMaps, decisionLayers: flags['decision-layers'] });
    const result = pricedReport(measured, price(measured));
    if (result.act_scale === 'static-uncalibrated') {
      // Scales of 1 clip every activation above 1: the figures describe a model nobody would deploy.
      this.warn(`${args.model} has static activation scales that were never calibrated, so its accuracy is not meaningful. Calibrate them with 'pg finetune', or 'pg convert --data'.`);
    }
    if (flags['per-layer-sensitivity']) {
      result.sensitivity = await layerSensitivity(model, dataset, {
        batchSize: flags['batch-size'],
        limit: flags.limit,
        onLayer: (name, i, n) => this.note(`Sensitivity ${i + 1}/${n}: ${name}...`),
      });
      if (!result.sensitivity.length) this.warn(`${args.model} has no gated layers: --per-layer-sensitivity has nothing to measure.`);
    }
    if (compared.length > 0) {
      const figures: ComparedModel[] = [];
      for (const c of compared) {
        this.note(`Evaluating ${c.path}...`);
        const r = await reportModel(c.model, dataset, { batchSize: flags['batch-size'], limit: flags.limit });
        const { act_bits, bitops } = price(r).whole_model;
        figures.push({ model: c.path, mode: r.mode, accuracy: r.accuracy, act_bits, bitops, bavg: r.bavg, sparsity: r.sparsity, bits: r.bits, hbits: r.hbits });
      }
      result.compared = figures;
    }
    const skipped = skippedFilesWarning(dataset);
    if (skipped !== undefined) this.warn(skipped);
    if (gates.length) result.gates = checkGates(result, gates);
    const text = formatReport(result, format);
    if (flags.output !== undefined) {
      await writeFileAtomic(flags.output, text);
      this.note(`Wrote the ${format} report to ${flags.output}.`);
    } else if (!this.jsonEnabled()) {
      process.stdout.write(text);
    }
    const failed = renderFailedGates(result.gates ?? []);
    if (failed.length) {
      this.gatesFailed = true;
      if (!this.jsonEnabled()) process.stderr.write(`${failed.join('\n')}\n`);
      // Not an error: the report is complete, so the command returns normally and only the exit code says it.
      process.exitCode = GATE_FAILED_STATUS;
    }
    return result;
  }
}
