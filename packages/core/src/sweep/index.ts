export { paretoFrontier } from './pareto.js';
export { gridPoints, pointId } from './grid.js';
export { runSweep, frontiers, stopReason, SWEEP_FILE, type SweepOptions, type SweepHooks, type SweepEvent } from './run-sweep.js';
export type * from './sweep-types.js';
