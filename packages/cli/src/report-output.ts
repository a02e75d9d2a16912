import { Flags, type Command } from '@oclif/core';
import { checkGates, COST_GATE_FIELDS, GATE_FIELDS, gateCostModel, parseGate, UsageError, writeFileAtomic, type Gate } from '@pg/core';
import { COST_MODELS, reportPricing, selectProfiles, type ReportPricing } from '@pg/exporters';
import { BaseCommand } from './base-command.js';
import { GATE_FAILED_STATUS, type SuccessEnvelope } from './envelope.js';
import { formatReport, REPORT_FORMATS, type ReportFormat, type ReportJson } from './report-format.js';
import { renderFailedGates } from './render/report-extras.js';

/** --format, -o and --fail-if: how pg report and pg report merge write a report and gate on it. */
export const reportOutputFlags = {
  format: Flags.option({ options: REPORT_FORMATS, default: 'text' as const })({
    summary: 'Report format: text (terminal), json (the --json result alone), md (pull-request comment) or html (one file with charts).',
  }),
  output: Flags.string({ char: 'o', helpValue: 'FILE', summary: 'Write the report to FILE (atomically) instead of stdout.' }),
  'fail-if': Flags.string({
    multiple: true,
    multipleNonGreedy: true,
    helpValue: 'EXPR',
    summary: "Exit 10 if this condition holds, e.g. 'accuracy_drop>1%' or 'whole_model.bitops_vs_static_b>0.9'; repeatable.",
    description: `FIELD OP NUMBER with OP one of > >= < <= == !=; a number ending in % is divided by 100. Fields: ${GATE_FIELDS.join(', ')}, cost.MODEL.{${COST_GATE_FIELDS.join(',')}}. The full report is still printed.`,
  }),
};

interface OutputFlags {
  format: ReportFormat;
  output?: string;
  'fail-if'?: string[];
  cost?: string;
  profile?: string[];
}

/**
 * What pg report and pg report merge share: the format and -o checks, the --fail-if gates (parsed before any
 * work; a cost gate prices its model even when --cost does not name it), the pricing, and writing the report
 * with exit 10 when a gate fails (not an error: the report is complete).
 */
export abstract class ReportOutputCommand<T extends typeof Command> extends BaseCommand<T> {
  private gatesFailed = false;

  protected override toSuccessJson(result: unknown): SuccessEnvelope<unknown> {
    return { ...super.toSuccessJson(result), status: this.gatesFailed ? GATE_FAILED_STATUS : 0 };
  }

  /** The gates and the pricing, checked before any work. */
  protected async prepareOutput(flags: OutputFlags, hasBaseline: boolean): Promise<{ gates: Gate[]; price: ReportPricing }> {
    if (this.jsonEnabled() && flags.format !== 'text' && flags.output === undefined) {
      throw new UsageError(`--format ${flags.format} with --json needs -o FILE: stdout holds the JSON envelope.`, {
        action: `Add -o FILE to write the ${flags.format} report to a file, or leave out --json.`,
      });
    }
    const gates = (flags['fail-if'] ?? []).map((e) => parseGate(e, [...COST_MODELS.keys()]));
    const needsBaseline = gates.find((g) => ['accuracy_drop', 'baseline_accuracy', 'perplexity_increase', 'baseline_perplexity'].includes(g.field));
    if (needsBaseline && !hasBaseline) {
      throw new UsageError(`--fail-if '${needsBaseline.expression}' needs --baseline`, { action: 'give the float model with --baseline MODEL, or gate on accuracy instead' });
    }
    const costNames = [flags.cost, ...gates.map(gateCostModel)].filter((n): n is string => n !== undefined);
    const profiles = await selectProfiles(costNames.length ? costNames.join(',') : undefined, flags.profile ?? []);
    return { gates, price: await reportPricing(profiles) };
  }

  /** Checks the gates, writes the report in its format (to -o or stdout) and sets exit 10 when a gate failed. */
  protected async writeReport(result: ReportJson, flags: OutputFlags, gates: Gate[]): Promise<ReportJson> {
    if (gates.length) result.gates = checkGates(result, gates);
    const text = formatReport(result, flags.format);
    if (flags.output !== undefined) {
      await writeFileAtomic(flags.output, text);
      this.note(`Wrote the ${flags.format} report to ${flags.output}.`);
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
