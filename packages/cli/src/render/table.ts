/** A column of a text table: its header and whether numbers in it are right-aligned. */
export interface Column {
  header: string;
  align?: 'left' | 'right';
}

/** A plain-text table (no colours, no box characters): readable in a terminal and in CI logs alike. */
export function renderTable(columns: Column[], rows: string[][]): string {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (columns[i].align === 'right' ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const header = line(columns.map((c) => c.header));
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [header, rule, ...rows.map(line)].join('\n');
}

/** Fixed decimals, or '-' for a missing value. */
export function fixed(value: number | null | undefined, digits: number): string {
  return value === null || value === undefined ? '-' : value.toFixed(digits);
}

/** A fraction as a percentage with one decimal, or '-'. */
export function percent(value: number | null | undefined): string {
  return value === null || value === undefined ? '-' : `${(value * 100).toFixed(1)}%`;
}

/** An integer with thousands separators (MACs, sample counts). */
export function count(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/** A duration for progress and summaries: 850 ms, 12.3 s, 4m 05s. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
}

/** 1.23e+9 style for figures (costs) that span many orders of magnitude; plain below 10^6; '-' for a missing value. */
export function magnitude(v: number | null | undefined): string {
  if (v === null || v === undefined) return '-';
  return Math.abs(v) >= 1e6 ? v.toExponential(3) : v.toFixed(v < 100 ? 2 : 0);
}
