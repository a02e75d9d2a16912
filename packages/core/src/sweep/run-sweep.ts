import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dataset } from '../data/index.js';
import { withPreprocess } from '../data/index.js';
import { UsageError } from '../errors/index.js';
import type { Model } from '../graph/index.js';
import { makeFolder, writeFileAtomic, type ShardSpec } from '../io/index.js';
import type { ReportResult } from '../metrics/index.js';
import { reportModel } from '../metrics/index.js';
import { writeModel } from '../onnx/index.js';
import { convertModel, type ActScaleMode } from '../gating/index.js';
import { finalCalibrationWithTarget, finetune, FINETUNE_DEFAULTS, type FinetuneOptions, type FinetuneProgress } from '../train/index.js';
import { gridPoints, pointId } from './grid.js';
import { paretoFrontier } from './pareto.js';
import { pointCostEstimate, shardPoints } from './shard.js';
import type { SweepConfig, SweepGrid, SweepPoint, SweepResult } from './sweep-types.js';

export const SWEEP_FILE = 'sweep.json';

/** The file a shard of a sweep writes instead of sweep.json; several shards can share one out-dir. */
export const sweepShardFile = (s: ShardSpec): string => `sweep.shard-${s.index}-of-${s.count}.json`;

export interface SweepOptions {
  grid: SweepGrid;
  /** Folder of the sweep: `sweep.json` and `points/<id>/{model.onnx,report.json}`. */
  outDir: string;
  /** The float model's path as given (recorded in sweep.json). */
  modelPath: string;
  wbits: number;
  actScale: ActScaleMode;
  /** The first layer's bits in every point (convertModel's firstLayerBits); undefined keeps it float. */
  firstLayerBits?: number;
  /** Fine-tuning of every point; its targetSparsity comes from the grid. */
  finetune: Omit<FinetuneOptions, 'targetSparsity'>;
  report: { batchSize: number; limit?: number };
  /** Continue a sweep in outDir: complete points are kept, not run again. Without it a folder holding a sweep is refused. */
  resume: boolean;
  /** Stop between points when the next one would likely end after this many ms from the start (pending points stay pending). */
  timeBudgetMs?: number;
  /** Normalisation to record in every written model (when it came from flags, not from the model). */
  preprocess?: { mean?: number[]; std?: number[] };
  /**
   * Prices a point's report (its layers and other ops): its whole-model figures and each --cost model's cost.
   * Core knows no device model itself (they live in @pg/exporters).
   */
  price?: (report: Pick<ReportResult, 'layers' | 'other_ops'>) => Pick<ReportResult, 'whole_model' | 'costs'>;
  /**
   * Run only shard `spec` of the grid's points (assignShards over their estimated costs) and write
   * sweepShardFile(spec) instead of sweep.json, stamped with `identity` (what the caller knows of the run:
   * the model's hash, pg's version) plus the grid, the settings and the data sizes.
   */
  shard?: {
    spec: ShardSpec;
    identity: Record<string, unknown>;
    /** The float model's MACs per sample (pg inspect's `macs`), the base of each point's estimated cost. */
    macsPerSample: number;
  };
}

/** What a point's run needs beyond the options: the float model's accuracy, for its accuracy_drop. */
type PointOptions = SweepOptions & { floatAccuracy: number | null };

export interface SweepEvent {
  /** 'reused': complete in the folder already; 'start'/'done': run now; 'stopped': the run ends here. */
  kind: 'reused' | 'start' | 'done' | 'stopped';
  index: number;
  total: number;
  point: SweepPoint;
}

export interface SweepHooks {
  onEvent?(e: SweepEvent): void;
  onProgress?(p: FinetuneProgress): void;
  /** Aborting stops the current point's training; that point stays pending and the sweep ends. */
  signal?: AbortSignal;
  /** Milliseconds clock; tests replace it to exercise the time budget. */
  now?(): number;
}

/** A grid point not run yet. */
export const pendingPoint = (c: SweepConfig): SweepPoint => ({
  ...c,
  id: pointId(c),
  status: 'pending',
  model: null,
  report: null,
  accuracy: null,
  accuracy_drop: null,
  whole_model: null,
  bavg: null,
  sparsity: null,
  costs: [],
  seconds: null,
  reused: false,
});

/**
 * `pg sweep`: convert + finetune + report for every valid grid point, each point's model and report
 * written atomically into its own folder, `sweep.json` rewritten after every point (so a killed run
 * loses at most the point it was on), and the Pareto frontier of accuracy against B_avg and each cost.
 */
export async function runSweep(model: Model, data: Dataset, evalData: Dataset, opts: SweepOptions, hooks: SweepHooks = {}): Promise<SweepResult> {
  const now = hooks.now ?? Date.now;
  const start = now();
  const { points: grid, invalid } = gridPoints(opts.grid);
  const settings = sweepSettings(opts, data, evalData);
  const owned = opts.shard ? shardPoints(sweepEstimates(opts.shard.macsPerSample, data, evalData, opts), opts.shard.spec) : undefined;
  const configs = owned ? grid.filter((c) => owned.has(pointId(c))) : grid;
  const file = opts.shard ? sweepShardFile(opts.shard.spec) : SWEEP_FILE;
  const summaryPath = join(opts.outDir, file);
  const previous = await readPrevious(summaryPath);
  if (previous && !opts.resume) {
    throw new UsageError(`${opts.outDir} already holds a sweep (${file})`, { action: 'pass --resume to continue it, or give another --out-dir' });
  }
  if (previous) assertSameSettings(previous.settings, settings, opts.outDir);
  await makeFolder(join(opts.outDir, 'points'));
  // The float model's accuracy, measured once (kept from the folder's sweep.json on resume: same data and limit).
  const floatAccuracy = previous?.float_accuracy ?? (await reportModel(model, evalData, { batchSize: opts.report.batchSize, limit: opts.report.limit })).accuracy;
  const pointOpts: PointOptions = { ...opts, floatAccuracy };

  const result: SweepResult = {
    model: opts.modelPath,
    data: data.name,
    eval_data: evalData.name,
    float_accuracy: floatAccuracy,
    grid: { ...opts.grid, mode: opts.grid.mode ?? ['pg'] },
    invalid,
    settings,
    points: configs.map(pendingPoint),
    frontier: {},
    complete: 0,
    pending: configs.length,
    stopped: null,
  };
  if (opts.shard) {
    const identity = { ...opts.shard.identity, grid: opts.grid, settings, data_size: data.size, eval_size: evalData.size };
    result.shard = { ...opts.shard.spec, identity, points: configs.map(pointId) };
  }
  const durations: number[] = [];
  for (let i = 0; i < result.points.length; i++) {
    const point = result.points[i];
    const event = (kind: SweepEvent['kind']) => hooks.onEvent?.({ kind, index: i, total: result.points.length, point });
    const done = opts.resume ? await readCompletePoint(pointOpts, point) : undefined;
    if (done) {
      result.points[i] = done;
      hooks.onEvent?.({ kind: 'reused', index: i, total: result.points.length, point: done });
      continue;
    }
    const stop = stopReason(start, now(), durations, opts.timeBudgetMs, hooks.signal);
    if (stop) {
      result.stopped = stop;
      event('stopped');
      // Later points may still be complete in the folder: keep counting them.
      for (let j = i + 1; j < result.points.length; j++) {
        const later = opts.resume ? await readCompletePoint(pointOpts, result.points[j]) : undefined;
        if (later) result.points[j] = later;
      }
      break;
    }
    event('start');
    const t0 = now();
    const measured = await runPoint(model, data, evalData, pointOpts, point, { ...hooks, now });
    if (!measured) {
      result.stopped = 'interrupted';
      event('stopped');
      break;
    }
    durations.push(now() - t0);
    result.points[i] = measured;
    hooks.onEvent?.({ kind: 'done', index: i, total: result.points.length, point: measured });
    await writeSummary(summaryPath, result);
  }
  await writeSummary(summaryPath, result);
  return result;
}

/**
 * Whether to start the next point: not after an interrupt, and not when the time used so far plus the
 * mean duration of the points run so far would reach the budget.
 */
export function stopReason(start: number, t: number, durations: readonly number[], budget: number | undefined, signal?: AbortSignal): SweepResult['stopped'] {
  if (signal?.aborted) return 'interrupted';
  if (budget === undefined) return null;
  const elapsed = t - start;
  const expected = durations.length ? durations.reduce((a, b) => a + b, 0) / durations.length : 0;
  return elapsed + expected >= budget ? 'time-budget' : null;
}

/**
 * The grid's points in order with their estimated cost (pointCostEstimate): the float model's MACs per sample,
 * the training and evaluated sample counts, the fine-tuning steps.
 */
export function sweepEstimates(
  macsPerSample: number,
  data: Dataset,
  evalData: Dataset,
  opts: Pick<SweepOptions, 'grid' | 'finetune' | 'report'>,
): Array<{ id: string; config: SweepConfig; estimate: number }> {
  const basis = {
    macsPerSample,
    trainSamples: data.size,
    evalSamples: Math.min(opts.report.limit ?? evalData.size, evalData.size),
    finetune: opts.finetune,
  };
  return gridPoints(opts.grid).points.map((config) => ({ id: pointId(config), config, estimate: pointCostEstimate(config, basis) }));
}

/** One point; undefined when interrupted during training (nothing of it is written). */
async function runPoint(
  model: Model,
  data: Dataset,
  evalData: Dataset,
  opts: PointOptions,
  point: SweepPoint,
  hooks: SweepHooks & { now(): number },
): Promise<SweepPoint | undefined> {
  const t0 = hooks.now();
  const dir = join(opts.outDir, 'points', point.id);
  await makeFolder(dir);
  const converted = convertModel(model, {
    mode: point.mode,
    bits: point.bits,
    hbits: point.hbits ?? 0,
    wbits: opts.wbits,
    actScale: opts.actScale,
    firstLayerBits: opts.firstLayerBits,
  });
  // A static point has no gate: it trains its scales (and weights) without a target and without the final calibration.
  const recipe = point.mode === 'static' ? { ...opts.finetune, finalCalibration: false } : { ...opts.finetune, targetSparsity: point.target_sparsity ?? undefined };
  const trained = await finetune(converted.model, data, recipe, { onProgress: hooks.onProgress, signal: hooks.signal });
  if (hooks.signal?.aborted) return undefined;
  const tuned = opts.preprocess ? withPreprocess(trained.model, opts.preprocess) : trained.model;
  const modelRel = join('points', point.id, 'model.onnx');
  const reportRel = join('points', point.id, 'report.json');
  await writeModel(tuned, join(opts.outDir, modelRel));
  const report: ReportResult = await reportModel(tuned, evalData, { batchSize: opts.report.batchSize, limit: opts.report.limit });
  report.model = modelRel;
  Object.assign(report, opts.price?.(report));
  const seconds = (hooks.now() - t0) / 1000;
  // The report is written last: its presence is what marks the point complete for --resume.
  await writeFileAtomic(join(opts.outDir, reportRel), `${JSON.stringify({ config: pointConfig(point), seconds, report }, null, 2)}\n`);
  return { ...fromReport(point, report, modelRel, reportRel, false, opts.floatAccuracy), seconds };
}

/** A point's configuration as stored in its report.json; points from before the mode axis were 'pg'. */
const pointConfig = (p: Partial<SweepConfig> & Omit<SweepConfig, 'mode'>): SweepConfig => ({
  mode: p.mode ?? 'pg',
  bits: p.bits,
  hbits: p.hbits,
  target_sparsity: p.target_sparsity,
});

function fromReport(point: SweepPoint, r: ReportResult, model: string, report: string, reused: boolean, floatAccuracy: number | null): SweepPoint {
  return {
    ...point,
    status: 'complete',
    model,
    report,
    accuracy: r.accuracy,
    accuracy_drop: floatAccuracy === null ? null : floatAccuracy - r.accuracy,
    whole_model: r.whole_model ?? null,
    bavg: r.bavg,
    sparsity: r.sparsity,
    costs: (r.costs ?? []).map((c) => ({ backend: c.backend, unit: c.unit, total: c.total })),
    reused,
  };
}

/**
 * A point whose report.json exists and was written for the same configuration. Its whole-model figures and
 * costs are priced again from the stored per-layer figures, so they follow this run's --cost and profiles.
 */
async function readCompletePoint(opts: PointOptions, point: SweepPoint): Promise<SweepPoint | undefined> {
  const outDir = opts.outDir;
  const reportRel = join('points', point.id, 'report.json');
  let stored: { config?: SweepConfig; seconds?: number; report?: ReportResult };
  try {
    stored = JSON.parse(await readFile(join(outDir, reportRel), 'utf8')) as typeof stored;
  } catch {
    return undefined;
  }
  if (!stored.report || !stored.config || JSON.stringify(pointConfig(stored.config)) !== JSON.stringify(pointConfig(point))) return undefined;
  const { whole_model, costs } = opts.price?.(stored.report) ?? {};
  Object.assign(stored.report, { whole_model, costs });
  return { ...fromReport(point, stored.report, join('points', point.id, 'model.onnx'), reportRel, true, opts.floatAccuracy), seconds: stored.seconds ?? null };
}

export async function readPrevious(path: string): Promise<SweepResult | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const previous = JSON.parse(text) as SweepResult;
    // Sweeps written before the first layer had a setting kept it float.
    if (previous.settings && !('first_layer_bits' in previous.settings)) previous.settings.first_layer_bits = null;
    return previous;
  } catch {
    throw new UsageError(`${path} is not valid JSON`, { action: 'remove it to start the sweep again, or give another --out-dir' });
  }
}

/** What every point shares; a resumed sweep with other settings would mix incomparable points. */
function sweepSettings(opts: SweepOptions, data: Dataset, evalData: Dataset): SweepResult['settings'] {
  return {
    model: opts.modelPath,
    data: data.name,
    eval_data: evalData.name,
    eval_limit: opts.report.limit ?? null,
    wbits: opts.wbits,
    act_scale: opts.actScale,
    first_layer_bits: opts.firstLayerBits ?? null,
    ...recipeSettings(opts.finetune),
  };
}

/** The fine-tuning options that change a point's result (workers does not). */
function recipeSettings(f: Omit<FinetuneOptions, 'targetSparsity'>): SweepResult['settings'] {
  return {
    epochs: f.epochs,
    max_steps: f.maxSteps ?? null,
    batch_size: f.batchSize,
    lr: f.lr,
    train_weights: f.trainWeights,
    weight_lr: f.weightLr,
    calibration_batches: f.calibrationBatches,
    seed: f.seed,
    lr_schedule: f.lrSchedule,
    // Every point has a target, so this is what its run does (an unset option included).
    final_calibration: finalCalibrationWithTarget(f),
    distill: f.distill,
    gate_target: f.gateTarget,
    penalty: f.penalty,
    sparsity_weight: f.sparsityWeight,
    alpha: f.alpha,
    sparse_backprop: f.sparseBackprop,
    recalibrate: f.recalibrate,
    shards: f.shards,
  };
}

function assertSameSettings(before: SweepResult['settings'], now: SweepResult['settings'], dir: string): void {
  // A recipe setting that sweep.json does not record was at its default then: the final calibration was off
  // by default when sweep.json did not record it yet.
  const defaults: SweepResult['settings'] = { ...recipeSettings(FINETUNE_DEFAULTS), final_calibration: false };
  const was = (k: string): unknown => (before !== undefined && k in before ? before[k] : defaults[k]);
  const differ = Object.keys(now).filter((k) => JSON.stringify(was(k)) !== JSON.stringify(now[k]));
  if (differ.length === 0) return;
  const list = differ.map((k) => `${k} ${JSON.stringify(was(k))} → ${JSON.stringify(now[k])}`).join(', ');
  throw new UsageError(`--resume: ${dir} was swept with other settings (${list})`, { action: 'resume with the same flags, or give another --out-dir' });
}

/** Writes sweep.json (or a shard's file) atomically, its counts and frontiers computed from its points. */
export async function writeSummary(path: string, r: SweepResult): Promise<void> {
  r.complete = r.points.filter((p) => p.status === 'complete').length;
  r.pending = r.points.length - r.complete;
  r.frontier = frontiers(r.points);
  await writeFileAtomic(path, `${JSON.stringify(r, null, 2)}\n`);
}

/**
 * Accuracy against the whole model's activation bits (the default axis), against the gated layers' B_avg,
 * and against each cost model's total, over the complete points.
 */
export function frontiers(points: readonly SweepPoint[]): Record<string, string[]> {
  const done = points.filter((p) => p.status === 'complete');
  const on = (cost: (p: SweepPoint) => number | null) => paretoFrontier(done, cost, (p) => p.accuracy).map((i) => done[i].id);
  const out: Record<string, string[]> = { act_bits: on((p) => p.whole_model?.act_bits ?? null), bavg: on((p) => p.bavg) };
  const backends = [...new Set(done.flatMap((p) => p.costs.map((c) => c.backend)))];
  for (const b of backends) out[b] = on((p) => p.costs.find((c) => c.backend === b)?.total ?? null);
  return out;
}
