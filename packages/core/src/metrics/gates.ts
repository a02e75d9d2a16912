import { UsageError } from '../errors/index.js';
import type { GateCheck, ReportResult } from './report-types.js';

export type GateOp = GateCheck['op'];

/** A parsed `--fail-if` condition: the run fails when `field op threshold` holds. */
export interface Gate {
  expression: string;
  field: string;
  op: GateOp;
  threshold: number;
}

/**
 * Report fields a gate can test: the whole model's (`whole_model.<field>`), the headline ones, and
 * `cost.<model>.<total|vs_static_b|vs_static_8bit|vs_seernet>`.
 */
export const WHOLE_MODEL_GATE_FIELDS = [
  'act_bits',
  'weight_bits',
  'gated_mac_fraction',
  'macs',
  'bitops',
  'bitops_vs_static_b',
  'bitops_vs_static_8bit',
  'bitops_vs_seernet',
] as const;
export const GATE_FIELDS = [
  'accuracy',
  'baseline_accuracy',
  'accuracy_drop',
  'sparsity',
  'sparsity_mac_weighted',
  'bavg',
  'samples',
  'perplexity',
  'baseline_perplexity',
  'perplexity_increase',
  ...WHOLE_MODEL_GATE_FIELDS.map((f) => `whole_model.${f}` as const),
] as const;
export const COST_GATE_FIELDS = ['total', 'vs_static_b', 'vs_static_8bit', 'vs_seernet'] as const;
/** Fields a report no longer has, with what replaces them: a CI script that names one gets told. */
const REMOVED_FIELDS: Record<string, string> = {
  compute_reduction:
    "it covered the gated layers only; the whole model's saving is 'whole_model.bitops_vs_static_b' (its inverse, over every layer: e.g. 'whole_model.bitops_vs_static_b>0.9')",
};

const GRAMMAR = /^\s*([A-Za-z_][\w.-]*?)\s*(>=|<=|==|!=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(%?)\s*$/;
const HELP = `write FIELD OP NUMBER, e.g. 'accuracy_drop>0.01', 'whole_model.act_bits>5' or 'cost.bit-serial.vs_static_8bit>0.5'; OP is one of > >= < <= == !=; a number ending in % is divided by 100; fields: ${GATE_FIELDS.join(', ')}, cost.<model>.{${COST_GATE_FIELDS.join(',')}} (docs/commands.md#pg-report)`;

/** Parses one --fail-if expression; a malformed one, or an unknown field, is a usage error naming the flag. */
export function parseGate(expression: string, costModels: readonly string[]): Gate {
  const m = GRAMMAR.exec(expression);
  if (!m) throw new UsageError(`--fail-if '${expression}' is not a condition`, { action: HELP });
  const [, field, op, num, percent] = m;
  const cost = /^cost\.(.+)\.([a-z_0-9]+)$/.exec(field);
  if (cost) {
    if (!costModels.includes(cost[1])) throw new UsageError(`--fail-if '${expression}': unknown cost model '${cost[1]}'`, { action: `use one of ${costModels.join(', ')}` });
    if (!(COST_GATE_FIELDS as readonly string[]).includes(cost[2]))
      throw new UsageError(`--fail-if '${expression}': unknown cost field '${cost[2]}'`, { action: `use one of ${COST_GATE_FIELDS.join(', ')}` });
  } else if (field in REMOVED_FIELDS) {
    throw new UsageError(`--fail-if '${expression}': the report has no field '${field}' any more`, { action: `${REMOVED_FIELDS[field]} (docs/report-fields.md)` });
  } else if (!(GATE_FIELDS as readonly string[]).includes(field)) {
    throw new UsageError(`--fail-if '${expression}': unknown field '${field}'`, { action: HELP });
  }
  const threshold = Number(num) / (percent ? 100 : 1);
  return { expression, field, op: op as GateOp, threshold };
}

/** The cost model a gate field needs priced (so the command can price it even without --cost), or undefined. */
export function gateCostModel(gate: Gate): string | undefined {
  return /^cost\.(.+)\.[a-z_0-9]+$/.exec(gate.field)?.[1];
}

function valueOf(result: ReportResult, field: string): number | null {
  const cost = /^cost\.(.+)\.([a-z_0-9]+)$/.exec(field);
  if (cost) {
    const c = result.costs?.find((x) => x.backend === cost[1]);
    if (!c) return null;
    return cost[2] === 'total' ? c.total : c.ratios[cost[2] as keyof typeof c.ratios];
  }
  const whole = /^whole_model\.(.+)$/.exec(field);
  const v = whole ? (result.whole_model as unknown as Record<string, unknown> | undefined)?.[whole[1]] : (result as unknown as Record<string, unknown>)[field];
  return typeof v === 'number' ? v : null;
}

/**
 * Equal within a relative 1e-9: report figures are differences and ratios of floats, and 0.92 - 0.91 is
 * 0.010000000000000009, which must not fail 'accuracy_drop>1%'.
 */
function same(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

const HOLDS: Record<GateOp, (a: number, b: number) => boolean> = {
  '>': (a, b) => a > b && !same(a, b),
  '>=': (a, b) => a > b || same(a, b),
  '<': (a, b) => a < b && !same(a, b),
  '<=': (a, b) => a < b || same(a, b),
  '==': (a, b) => same(a, b),
  '!=': (a, b) => !same(a, b),
};

/** Evaluates the gates on a report. A field the report has no value for (e.g. bavg of a float model) fails its gate. */
export function checkGates(result: ReportResult, gates: readonly Gate[]): GateCheck[] {
  return gates.map((g) => {
    const value = valueOf(result, g.field);
    return { ...g, value, failed: value === null || HOLDS[g.op](value, g.threshold) };
  });
}
