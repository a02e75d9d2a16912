import { paretoFrontier, type ReportResult } from '@pg/core';
import { renderReport } from './render/report.js';
import { renderCosts, renderSensitivity } from './render/report-extras.js';
import { fixed, percent, renderTable } from './render/table.js';
import { renderReportHtml, type AccuracyPoint } from './render/report-html.js';
import { renderReportMarkdown } from './render/report-markdown.js';

export const REPORT_FORMATS = ['text', 'json', 'md', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** A compared model's headline figures (`pg report --compare`). */
export interface ComparedModel {
  model: string;
  accuracy: number;
  bavg: number | null;
  sparsity: number;
  bits: number | null;
  hbits: number | null;
}

/** `pg report --json` result (schemas/report.schema.json): core's report, and the compared models when given. */
export interface ReportJson extends ReportResult {
  compared?: ComparedModel[];
}

/** The reported model and the compared ones as points of the accuracy-against-B_avg chart, frontier marked. */
export function comparisonPoints(r: ReportJson): AccuracyPoint[] {
  if (!r.compared || r.compared.length === 0) return [];
  const all = [{ model: r.model, accuracy: r.accuracy, bavg: r.bavg }, ...r.compared];
  const frontier = new Set(paretoFrontier(all, (c) => c.bavg, (c) => c.accuracy));
  return all.map((c, i) => ({ label: c.model, accuracy: c.accuracy, bavg: c.bavg, frontier: frontier.has(i), current: i === 0 }));
}

/** The report in one of the formats `pg report --format` offers. */
export function formatReport(r: ReportJson, format: ReportFormat): string {
  switch (format) {
    case 'text': {
      const points = comparisonPoints(r);
      const comparison = points.length === 0 ? '' : `\n\n${renderTable(
        [{ header: 'configuration' }, { header: 'accuracy', align: 'right' }, { header: 'B_avg', align: 'right' }, { header: 'frontier' }],
        points.map((p) => [p.label, percent(p.accuracy), fixed(p.bavg, 2), p.frontier ? 'yes' : '']),
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
