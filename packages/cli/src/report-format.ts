import { paretoFrontier, type ReportResult } from '@pg/core';
import type { ReportPricing } from '@pg/exporters';
import { renderReport, type PricedReport } from './render/report.js';
import type { ReportShardJson } from './report-shard.js';
import { renderCosts, renderSensitivity } from './render/report-extras.js';
import { fixed, magnitude, percent, renderTable } from './render/table.js';
import { renderReportHtml, type AccuracyPoint } from './render/report-html.js';
import { renderReportMarkdown } from './render/report-markdown.js';

export const REPORT_FORMATS = ['text', 'json', 'md', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** A compared model's headline figures (`pg report --compare`): whole model first, then its gated layers'. */
export interface ComparedModel {
  model: string;
  /** pg convert's --mode for the compared model (null: a float model). */
  mode: ReportResult['mode'];
  accuracy: number;
  /** Whole model: activation bits per MAC over every Conv/Gemm layer, and bit-serial BitOps per sample. */
  act_bits: number | null;
  bitops: number;
  /** Gated layers only. */
  bavg: number | null;
  sparsity: number;
  bits: number | null;
  hbits: number | null;
}

/** `pg report --json` result (schemas/report.schema.json): core's report with its whole-model figures, and the compared models when given. */
export interface ReportJson extends PricedReport {
  compared?: ComparedModel[];
  /** `pg report --shard`: which shard and samples this report covers, and the counts `pg report merge` adds up. */
  shard?: ReportShardJson;
}

/** A measured report with its pricing, keys in reading order: accuracy, then the whole model, then the gated layers' figures. */
export function pricedReport(measured: ReportResult, priced: ReturnType<ReportPricing>): ReportJson {
  const { model, data, samples, accuracy, baseline_accuracy, accuracy_drop, ...rest } = measured;
  const baseline = baseline_accuracy === undefined ? {} : { baseline_accuracy, accuracy_drop };
  return { model, data, samples, accuracy, ...baseline, whole_model: priced.whole_model, ...rest, ...(priced.costs ? { costs: priced.costs } : {}) };
}

/** A compared model's headline figures, priced from its report. */
export function comparedFigures(path: string, r: ReportResult, price: ReportPricing): ComparedModel {
  const { act_bits, bitops } = price(r).whole_model;
  return { model: path, mode: r.mode, accuracy: r.accuracy, act_bits, bitops, bavg: r.bavg, sparsity: r.sparsity, bits: r.bits, hbits: r.hbits };
}

/**
 * The reported model and the compared ones as points of the accuracy chart, the Pareto frontier taken on the
 * whole model's activation bits (B_avg covers the gated layers only).
 */
export function comparisonPoints(r: ReportJson): AccuracyPoint[] {
  if (!r.compared || r.compared.length === 0) return [];
  const all = [{ model: r.model, accuracy: r.accuracy, act_bits: r.whole_model.act_bits, bitops: r.whole_model.bitops, bavg: r.bavg }, ...r.compared];
  const frontier = new Set(
    paretoFrontier(
      all,
      (c) => c.act_bits,
      (c) => c.accuracy,
    ),
  );
  return all.map((c, i) => ({ label: c.model, accuracy: c.accuracy, act_bits: c.act_bits, bitops: c.bitops, bavg: c.bavg, frontier: frontier.has(i), current: i === 0 }));
}

/** The report in one of the formats `pg report --format` offers. */
export function formatReport(r: ReportJson, format: ReportFormat): string {
  switch (format) {
    case 'text': {
      const points = comparisonPoints(r);
      const comparison =
        points.length === 0
          ? ''
          : `\n\n${renderTable(
              [
                { header: 'configuration' },
                { header: 'accuracy', align: 'right' },
                { header: 'act bits (whole)', align: 'right' },
                { header: 'BitOps (whole)', align: 'right' },
                { header: 'B_avg (gated)', align: 'right' },
                { header: 'frontier' },
              ],
              points.map((p) => [p.label, percent(p.accuracy), fixed(p.act_bits, 2), magnitude(p.bitops), fixed(p.bavg, 2), p.frontier ? 'yes' : '']),
            )}`;
      const extras = [r.costs ? renderCosts(r.costs) : '', r.sensitivity?.length ? renderSensitivity(r.sensitivity, r.accuracy) : ''].filter((t) => t !== '');
      return [`${renderReport(r)}${comparison}`, ...extras].join('\n\n') + '\n';
    }
    case 'json':
      return `${JSON.stringify(r, null, 2)}\n`;
    case 'md':
      return renderReportMarkdown(r, comparisonPoints(r));
    case 'html':
      return renderReportHtml(r, comparisonPoints(r));
  }
}
