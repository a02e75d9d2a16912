import { escapeHtml } from './escape.js';

// One self-contained page: styles inline, no fonts, scripts or images from anywhere (the report must open
// offline, attached to a CI run or a mail).
const CSS = `
:root { --fg: #1d232a; --muted: #5b6672; --line: #d8dee4; --bar: #2f6fb0; --track: #eef2f6; --accent: #c2410c; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); margin: 0; padding: 24px; max-width: 1100px; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 13px; margin: 8px 0 4px; font-weight: 600; word-break: break-all; }
p.note, .muted { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; font-size: 12.5px; } th, td { padding: 3px 10px 3px 0; text-align: left; border-bottom: 1px solid var(--line); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.summary th { font-weight: 500; color: var(--muted); }
.grid { display: flex; flex-wrap: wrap; gap: 16px; } .panel { border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
svg text { font: 11px system-ui, sans-serif; fill: var(--fg); } svg .tick, svg .value { fill: var(--muted); }
svg .bar { fill: var(--bar); } svg .track { fill: var(--track); } svg .axis, svg .frame { stroke: var(--muted); fill: none; }
svg line.grid { stroke: var(--line); } svg .point { fill: #8aa4bf; stroke: #fff; } svg .point.on-frontier { fill: var(--accent); }
svg .point.current { stroke: var(--fg); stroke-width: 2; } svg .frontier { fill: none; stroke: var(--accent); stroke-width: 1.5; }
svg.map { border: 1px solid var(--line); display: block; }
table.maps td { vertical-align: top; border: none; padding: 0 8px 8px 0; } table.maps th { border: none; font-weight: 500; font-size: 11px; max-width: 130px; word-break: break-all; }
.legend { display: inline-block; width: 120px; height: 10px; background: linear-gradient(to right, rgb(255,255,255), rgb(180,40,30)); border: 1px solid var(--line); vertical-align: middle; }
`;

export interface PageSection {
  id: string;
  title: string;
  html: string;
}

/** The whole document; `data` is embedded as JSON so the page carries the numbers it shows. */
export function page(title: string, subtitle: string, sections: readonly PageSection[], data: unknown): string {
  const body = sections.map((s) => `<section id="${escapeHtml(s.id)}"><h2>${escapeHtml(s.title)}</h2>${s.html}</section>`).join('\n');
  // '<' escaped so no string in the data can close the script element.
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="note">${escapeHtml(subtitle)}</p>
${body}
<script type="application/json" id="pg-data">${json}</script>
</body>
</html>
`;
}

/** An HTML table; `numeric` columns are right-aligned. */
export function htmlTable(headers: readonly string[], rows: readonly string[][], numeric: readonly boolean[] = [], cls = ''): string {
  const th = headers.map((h, i) => `<th${numeric[i] ? ' class="num"' : ''}>${escapeHtml(h)}</th>`).join('');
  const tr = rows.map((r) => `<tr>${r.map((c, i) => `<td${numeric[i] ? ' class="num"' : ''}>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${th}</tr></thead><tbody>${tr}</tbody></table>`;
}

/** Two columns, name and value, for headline figures. */
export function summaryTable(rows: readonly [string, string][]): string {
  return `<table class="summary"><tbody>${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</tbody></table>`;
}
