import { cp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { ShardError, UsageError } from '../errors/index.js';
import { checkShardSet, makeFolder, readShardJson, shardLabel, shardStamp, toWriteError, type ShardFile } from '../io/index.js';
import { gridPoints, pointId } from './grid.js';
import { pendingPoint, readPrevious, SWEEP_FILE, writeSummary } from './run-sweep.js';
import type { SweepPoint, SweepResult } from './sweep-types.js';

const SHARD_FILE = /^sweep\.shard-\d+-of-\d+\.json$/;

/** The shard files `inputs` name: each a shard file itself, or a folder holding them (sweep.shard-K-of-N.json). */
async function shardFilesOf(inputs: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const input of inputs) {
    const info = await stat(input).catch((e: unknown) => {
      throw new UsageError(`${input} does not exist (${(e as Error).message})`, { action: "give the sweep shards' --out-dir folders or their sweep.shard-K-of-N.json files" });
    });
    if (!info.isDirectory()) {
      files.push(input);
      continue;
    }
    const found = (await readdir(input)).filter((f) => SHARD_FILE.test(f)).sort();
    if (found.length === 0) throw new ShardError(`${input} holds no sweep shard file (sweep.shard-K-of-N.json)`, { action: 'give the --out-dir of sweeps run with --shard K/N' });
    files.push(...found.map((f) => join(input, f)));
  }
  return files;
}

/** A shard file read and checked for the fields the merge uses; a ShardError naming it otherwise. */
async function readSweepShard(path: string): Promise<ShardFile<SweepResult>> {
  const content = (await readShardJson(path)) as Partial<SweepResult> | null;
  const stamp = shardStamp(path, { shard: content?.shard, identity: content?.shard?.identity });
  const c = content as SweepResult;
  if (!Array.isArray(c.points) || !Array.isArray(c.shard?.points) || typeof c.grid !== 'object' || c.grid === null) {
    throw new ShardError(`${path} is not a complete sweep shard file: it has no points or grid`, { action: 'run that shard again with --resume' });
  }
  return { path, ...stamp, content: c };
}

/** The points of the shard files by id, each from the shard that owns it; every point is checked against the grid. */
function ownedPoints(files: ReadonlyArray<ShardFile<SweepResult>>, gridIds: ReadonlySet<string>): Map<string, { point: SweepPoint; file: ShardFile<SweepResult> }> {
  const owned = new Map<string, { point: SweepPoint; file: ShardFile<SweepResult> }>();
  for (const file of files) {
    const ids = file.content.points.map((p) => p.id);
    if (JSON.stringify(ids) !== JSON.stringify(file.content.shard!.points)) {
      throw new ShardError(`${file.path}: its points (${ids.join(', ')}) are not the ones its shard runs (${file.content.shard!.points.join(', ')})`, {
        action: 'run that shard again',
      });
    }
    for (const point of file.content.points) {
      if (!gridIds.has(point.id)) throw new ShardError(`${file.path}: point ${point.id} is not on the sweep's grid`, { action: 'run that shard again' });
      const other = owned.get(point.id);
      if (other) throw new ShardError(`point ${point.id} is in both ${other.file.path} and ${file.path}`, { action: 'merge the shards of one run' });
      owned.set(point.id, { point, file });
    }
  }
  return owned;
}

/** The merged sweep and which shards were missing or stopped with points pending (both empty for a complete merge). */
export interface MergedSweep {
  result: SweepResult;
  missing: number[];
  stopped: number[];
}

/**
 * Merges the shard files of one sharded sweep (`inputs`: folders or files) into what the unsharded run writes:
 * every grid point in grid order from the shard that ran it, the frontiers computed over them as the run does,
 * each point's folder copied into `outDir` when it is elsewhere, and `outDir`/sweep.json written atomically.
 * Refuses (ShardError naming the files) shards of different runs, a shard twice, a missing shard and a shard
 * with points pending (killed, interrupted or out of time) unless `allowPartial`, which the result states.
 */
export async function mergeSweepShards(inputs: readonly string[], outDir: string, opts: { allowPartial: boolean }): Promise<MergedSweep> {
  const files = await Promise.all((await shardFilesOf(inputs)).map(readSweepShard));
  const missing = checkShardSet(files, opts.allowPartial);
  const stopped = files.filter((f) => f.content.points.some((p) => p.status !== 'complete'));
  if (stopped.length > 0 && !opts.allowPartial) {
    const f = stopped[0];
    const pendingIds = f.content.points.filter((p) => p.status !== 'complete').map((p) => p.id);
    throw new ShardError(
      `${f.path}: shard ${shardLabel(f.shard)} has ${pendingIds.length} point(s) pending (${pendingIds.join(', ')}): it was stopped (${f.content.stopped ?? 'killed'}) before it finished`,
      {
        action: 'run that shard again with --resume, or pass --allow-partial to merge what there is (the output then says it is partial)',
      },
    );
  }
  const first = files[0].content;
  const grid = gridPoints(first.grid).points;
  const owned = ownedPoints(files, new Set(grid.map(pointId)));
  const unowned = grid.map(pointId).filter((id) => !owned.has(id));
  if (unowned.length > 0 && missing.length === 0)
    throw new ShardError(`no shard holds point(s) ${unowned.join(', ')} (given: ${files.map((f) => f.path).join(', ')})`, { action: 'run the shards again from one command' });
  await refuseOtherSweep(outDir, first);
  await copyPoints([...owned.values()], outDir);
  const result: SweepResult = {
    model: first.model,
    data: first.data,
    eval_data: first.eval_data,
    // Every shard measured the float model on the whole evaluation data: the same figure.
    float_accuracy: first.float_accuracy,
    grid: first.grid,
    invalid: first.invalid,
    settings: first.settings,
    points: grid.map((c) => owned.get(pointId(c))?.point ?? pendingPoint(c)),
    frontier: {},
    complete: 0,
    pending: 0,
    stopped: stopped.map((f) => f.content.stopped).find((s) => s !== null) ?? null,
  };
  const stoppedIndices = stopped.map((f) => f.shard.index).sort((a, b) => a - b);
  if (missing.length > 0 || stoppedIndices.length > 0) result.partial = { shards: files[0].shard.count, missing_shards: missing, stopped_shards: stoppedIndices };
  await writeSummary(join(outDir, SWEEP_FILE), result);
  return { result, missing, stopped: stoppedIndices };
}

/** An out-dir holding another sweep (other grid or settings) keeps it: the merge would mix or overwrite its points. */
async function refuseOtherSweep(outDir: string, merged: SweepResult): Promise<void> {
  const existing = await readPrevious(join(outDir, SWEEP_FILE));
  if (existing === undefined) return;
  if (JSON.stringify(existing.grid) === JSON.stringify(merged.grid) && JSON.stringify(existing.settings) === JSON.stringify(merged.settings)) return;
  throw new UsageError(`${outDir} already holds another sweep (${SWEEP_FILE} with another grid or settings)`, { action: 'give another -o folder, or remove it' });
}

/**
 * Each complete point's folder into `outDir`/points/<id> when the shard ran elsewhere: copied beside it and
 * renamed into place, so a killed merge leaves no half-copied point where --resume would take it as complete.
 */
async function copyPoints(points: ReadonlyArray<{ point: SweepPoint; file: ShardFile<SweepResult> }>, outDir: string): Promise<void> {
  await makeFolder(join(outDir, 'points'));
  for (const { point, file } of points) {
    if (point.status !== 'complete') continue;
    const from = join(resolve(file.path, '..'), 'points', point.id);
    const to = join(outDir, 'points', point.id);
    if (resolve(from) === resolve(to)) continue;
    const temp = join(outDir, 'points', `.${basename(to)}.${process.pid}.tmp`);
    try {
      await rm(temp, { recursive: true, force: true });
      await cp(from, temp, { recursive: true });
      await rm(to, { recursive: true, force: true });
      await rename(temp, to);
    } catch (e) {
      await rm(temp, { recursive: true, force: true });
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !(await exists(from))) {
        throw new ShardError(`${file.path} lists point ${point.id} as complete but ${from} is missing`, { action: 'run that shard again with --resume' });
      }
      throw toWriteError(to, e);
    }
  }
}

const exists = (path: string): Promise<boolean> =>
  readFile(join(path, 'report.json')).then(
    () => true,
    () => false,
  );
