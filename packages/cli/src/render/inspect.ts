import type { InspectLayer, InspectResult, TensorSummary } from '@pg/core';
import { count, renderTable } from './table.js';

const shapeText = (shape: readonly (number | string | null)[] | null): string => (shape === null ? '?' : `[${shape.map((d) => d ?? '?').join(', ')}]`);

/** `key  value` lines with aligned values; a value with several lines is indented under the first. */
function keyValues(rows: [string, string[]][]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.flatMap(([k, lines]) => lines.map((line, i) => `${(i === 0 ? k : '').padEnd(width)}  ${line}`.trimEnd())).join('\n');
}

/** Inputs and outputs as rows of one table, so their columns line up; the header and rule are dropped. */
function tensorRows(inputs: TensorSummary[], outputs: TensorSummary[]): { inputs: string[]; outputs: string[] } {
  const rows = [...inputs, ...outputs].map((t) => [t.name, t.dtype, shapeText(t.shape)]);
  const lines = renderTable([{ header: '' }, { header: '' }, { header: '' }], rows)
    .split('\n')
    .slice(2);
  const orNone = (l: string[]): string[] => (l.length === 0 ? ['(none)'] : l);
  return { inputs: orNone(lines.slice(0, inputs.length)), outputs: orNone(lines.slice(inputs.length)) };
}

function precision(l: InspectLayer): string {
  if (l.bits === null) return 'float';
  const w = l.wbits === null || l.wbits === 32 ? 'float' : String(l.wbits);
  return l.gated ? `gated ${l.bits}/${l.hbits ?? '-'}/${w}` : `quantized ${l.bits}/-/${w}`;
}

function pgLine(r: InspectResult): string {
  if (r.pg !== null) {
    const p = r.pg;
    const w = p.wbits === null || p.wbits === 32 ? 'float' : `${p.wbits}-bit`;
    return `gated (format ${p.format_version ?? '?'}): ${p.gated_layers} gated and ${p.quantized_layers} quantized layer(s) at ${p.bits ?? '-'}/${p.hbits ?? '-'} bits, ${w} weights; act scale ${p.act_scale}`;
  }
  const n = (role: string): number => r.layers.filter((l) => l.placement?.role === role).length;
  const share = r.gated_mac_fraction === null ? '' : ` (${(100 * r.gated_mac_fraction).toFixed(1)}% of the MACs gated)`;
  const plan = `pg convert would gate ${n('gate')}, quantize ${n('quantize')} and keep ${n('float')} layer(s) float${share}`;
  return r.convert_blocker === null ? `not gated; ${plan}` : `not gated; pg convert would refuse it: ${r.convert_blocker}`;
}

/** `pg inspect` without --json: the model's header, then one row per Conv/Gemm layer. */
export function renderInspect(r: InspectResult): string {
  const opset = r.opset_imports.map((o) => `${o.domain === '' ? 'ai.onnx' : o.domain} ${o.version}`).join(', ');
  const ops = r.op_counts.map((o) => `${o.domain === '' ? '' : `${o.domain}.`}${o.op} ${o.count}`).join(', ');
  const shapes = r.shapes.method === 'executed' ? `shapes from one run on zeros at batch ${r.shapes.batch ?? '?'}` : 'shapes unavailable';
  const io = tensorRows(r.inputs, r.outputs);
  const head: [string, string[]][] = [
    ['model', [r.model]],
    ['producer', [`${r.producer.name || '(none)'} ${r.producer.version}`.trim()]],
    ['format', [`ONNX IR ${r.ir_version}, opset ${opset}`]],
    ['inputs', io.inputs],
    ['outputs', io.outputs],
    ['nodes', [`${count(r.nodes)}: ${ops || '-'}`]],
    ['parameters', [count(r.parameters)]],
    ['MACs', [r.macs === null ? `unknown for some layers (${shapes})` : `${count(r.macs)} per sample (${shapes})`]],
  ];
  if (r.shapes.note !== null) head.push(['shapes', [r.shapes.note]]);
  head.push([
    'unsupported',
    r.unsupported_ops.length === 0
      ? ['none: pg runs every op']
      : r.unsupported_ops.map((u) => `${u.domain === '' ? '' : `${u.domain}.`}${u.op} (${u.count} node(s), e.g. ${u.nodes[0]}): ${u.reason}`),
  ]);
  head.push(['pg', [pgLine(r)]]);

  if (r.layers.length === 0) return `${keyValues(head)}\n\nNo Conv/Gemm layers.`;
  const num = (v: number | null): string => (v === null ? '-' : count(v));
  const common = [{ header: 'layer' }, { header: 'op' }, { header: 'output shape' }, { header: 'params', align: 'right' as const }, { header: 'MACs', align: 'right' as const }];
  const cells = (l: InspectLayer): string[] => [l.name, l.op, l.output_shape === null ? '-' : shapeText(l.output_shape), count(l.params), num(l.macs)];
  const table = r.gated
    ? renderTable(
        [...common, { header: 'precision' }],
        r.layers.map((l) => [...cells(l), precision(l)]),
      )
    : renderTable(
        [...common, { header: 'convert' }, { header: 'reason' }],
        r.layers.map((l) => [...cells(l), l.placement?.role ?? '-', l.placement?.reason ?? '']),
      );
  return `${keyValues(head)}\n\n${table}`;
}
