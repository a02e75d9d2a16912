import { Args, Flags } from '@oclif/core';
import { mergeReportShards } from '@pg/core';
import { costFlags } from '../../cost-flags.js';
import { comparedFigures, pricedReport, type ReportJson } from '../../report-format.js';
import { ReportOutputCommand, reportOutputFlags } from '../../report-output.js';
import { readReportShards } from '../../report-shard.js';

export default class ReportMerge extends ReportOutputCommand<typeof ReportMerge> {
  static override summary = "Merge the parts of a sharded 'pg report --shard K/N --json' into the report one unsharded run prints.";

  static override description = `Each part holds exact counts (samples, correct predictions, updated outputs per layer, the baseline's and the sensitivity passes'); the merge adds them and computes every figure from the sums, as one pass over all the samples does, so the merged report equals the unsharded one (not an average of averages). The decision maps come from the shard holding the first samples.

The parts must come from one run: the same model, data, flags and pg version (each part records them), every shard once. A missing shard is refused unless --allow-partial, which the report then states at its top. The formats, --cost and --fail-if are those of 'pg report'.`;

  static override examples = [
    {
      description: 'Four shards of an evaluation, run anywhere, merged into a Markdown report',
      command: '<%= config.bin %> <%= command.id %> part-1.json part-2.json part-3.json part-4.json --format md -o report.md',
    },
  ];

  static override strict = false;

  static override args = {
    parts: Args.string({ required: true, description: "Shard files: the --json output of 'pg report --shard K/N' (one or more)." }),
  };

  static override flags = {
    ...reportOutputFlags,
    'allow-partial': Flags.boolean({ default: false, summary: "Merge even when shards are missing; the report says which, and covers only the given shards' samples." }),
    ...costFlags,
  };

  /** Merging adds counts and prices them: no model runs, so no backend starts. */
  protected override async initBackend(): Promise<void> {}

  public async run(): Promise<ReportJson> {
    const { flags } = this;
    const { argv } = await this.parse(ReportMerge);
    const paths = argv as string[];
    const shards = await readReportShards(paths);
    const hasBaseline = shards.model.every((s) => s.counts.baseline !== undefined);
    const { gates, price } = await this.prepareOutput(flags, hasBaseline);
    const allowPartial = flags['allow-partial'];
    const { report, missing } = mergeReportShards(shards.model, { allowPartial });
    const result = pricedReport(report, price(report));
    if (missing.length > 0) {
      result.partial = { shards: shards.model[0].shard.count, missing_shards: missing };
      this.warn(`shard${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of ${result.partial.shards} missing: the report covers the given shards' samples only.`);
    }
    if (shards.compared.length > 0) {
      result.compared = shards.compared.map((c) => comparedFigures(c.model, mergeReportShards(c.shards, { allowPartial }).report, price));
    }
    return this.writeReport(result, flags, gates);
  }
}
