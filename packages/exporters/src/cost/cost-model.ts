import type { LayerWork, Pass, Scheme } from './work.js';

/** A profile parameter's value: a number, or a table keyed by bit width (e.g. GPU throughput per precision). */
export type ParameterValue = number | Record<string, number>;
export type Parameters = Record<string, ParameterValue>;

/** What a profile parameter must be; the profile validator checks it and names the field when it is not. */
export type ParameterSpec = { kind: 'integer'; min: number; max?: number; doc: string } | { kind: 'positive'; max?: number; doc: string } | { kind: 'bit-table'; doc: string };

/**
 * A device model: a formula that prices each pass (docs/cost-models.md), its parameters' specification,
 * and the notes that say what its numbers assume.
 */
export interface CostModel<P extends Parameters = Parameters> {
  name: string;
  unit: 'bitops' | 'cycles';
  summary: string;
  parameters: { [K in keyof P]: ParameterSpec };
  passCost(pass: Pass, p: P): number;
  /**
   * The cost of `ops` operations of the other ops (pools, adds, activations...: docs/cost-models.md, "Other
   * ops"), priced by the profile's own parameter; the same in every scheme.
   */
  otherOpsCost(ops: number, p: P): number;
  /** A device that ignores gating (the dense CPU) replaces the passes of the scheme. */
  layerPasses?(l: LayerWork, scheme: Scheme): Pass[];
  notes(layers: LayerWork[], p: P): string[];
}
