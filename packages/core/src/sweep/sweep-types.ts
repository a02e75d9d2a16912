import type { CostReport, WholeModel } from '../metrics/index.js';
import type { ConversionMode } from '../gating/index.js';

/**
 * The grid of `pg sweep`: for the gating modes (pg, seernet) every combination with hbits < bits and each target
 * sparsity is a point; 'static' has neither prediction bits nor a target, so it gives one point per bits.
 */
export interface SweepGrid {
  /** pg convert's --mode values; sweeps written before the axis existed swept 'pg' only. */
  mode?: ConversionMode[];
  bits: number[];
  hbits: number[];
  target_sparsity: number[];
}

/** One grid point's configuration. hbits and target_sparsity are null for mode 'static'. */
export interface SweepConfig {
  mode: ConversionMode;
  bits: number;
  hbits: number | null;
  target_sparsity: number | null;
}

/** A point's cost on one device model, from its report's `costs`. */
export interface SweepPointCost {
  backend: string;
  unit: CostReport['unit'];
  total: number;
}

/** One grid point in `sweep.json`: complete (measured) or pending (not run yet: time budget or interrupt). */
export interface SweepPoint extends SweepConfig {
  /** Stable name, also the point's folder under `points/`, e.g. 'b4-h2-s0.8'. */
  id: string;
  status: 'complete' | 'pending';
  /** Paths relative to the sweep folder; null while pending. */
  model: string | null;
  report: string | null;
  accuracy: number | null;
  /** The float model's accuracy minus this point's, on the same evaluation data; null while pending. */
  accuracy_drop: number | null;
  /** The whole model's figures from the point's report (activation bits, BitOps...); null while pending or unpriced. */
  whole_model: WholeModel | null;
  /** The gated layers' B_avg and sparsity. */
  bavg: number | null;
  sparsity: number | null;
  costs: SweepPointCost[];
  /** Wall time of convert + finetune + report, when run; null while pending. */
  seconds: number | null;
  /** True when this run found the point complete in the folder and did not run it again. */
  reused: boolean;
}

/** `sweep.json`: the whole sweep, rewritten atomically after every point. */
export interface SweepResult {
  /** The float model swept. */
  model: string;
  /** Training data (convert, finetune) and evaluation data (report). */
  data: string;
  eval_data: string;
  /** The float model's accuracy on the evaluation data (each point's accuracy_drop is against it). */
  float_accuracy: number | null;
  grid: SweepGrid;
  /** Combinations of the grid left out because hbits >= bits. */
  invalid: Array<{ bits: number; hbits: number }>;
  /** Settings shared by every point; --resume refuses a folder swept with other settings. */
  settings: Record<string, number | string | boolean | null>;
  points: SweepPoint[];
  /**
   * Per cost axis, the ids of the Pareto-optimal complete points, ascending cost: 'act_bits' (the whole model's
   * activation bits per MAC: the default axis), 'bavg' (the gated layers' B_avg), and each --cost model's name.
   */
  frontier: Record<string, string[]>;
  complete: number;
  pending: number;
  /** Why the run stopped before every point was complete, or null. */
  stopped: 'time-budget' | 'interrupted' | null;
  /** A shard's file (pg sweep --shard K/N): which shard, what it was computed from, and the ids of its points. */
  shard?: SweepShardStamp;
  /** pg sweep merge --allow-partial with shards missing or stopped: which, and that their points are pending. */
  partial?: { shards: number; missing_shards: number[]; stopped_shards: number[] };
}

/** What a sweep shard's file records of itself: `pg sweep merge` checks these before merging. */
export interface SweepShardStamp {
  index: number;
  count: number;
  /** The model's SHA-256, pg's version, the grid, the settings and the data sizes: shards merge only when equal. */
  identity: Record<string, unknown>;
  /** Ids of the points this shard runs, grid order. */
  points: string[];
}
