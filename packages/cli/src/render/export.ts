import type { ExportResult } from '@pg/exporters';
import { renderTable } from './table.js';

/** `pg export` without --json: the files written and what the export did. */
export function renderExport(r: ExportResult & { model: string }): string {
  const table = renderTable(
    [{ header: 'file' }, { header: 'holds' }, { header: 'bytes', align: 'right' }],
    r.files.map((f) => [f.path, f.role, String(f.bytes)]),
  );
  return `${table}\n\n${r.notes.map((n) => `- ${n}`).join('\n')}\nExported ${r.model} as ${r.format}.`;
}
