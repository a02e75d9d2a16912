import { spawn } from 'node:child_process';
import { chmod, cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NoOperationTraceWriter, parseWorkflow } from '@actions/workflow-parser';
import type { SweepResult } from '@pg/core';
import { Job } from 'kubernetes-models/batch/v1';
import { PersistentVolumeClaim } from 'kubernetes-models/v1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import type { SweepPlanJson } from '../src/commands/sweep.js';
import { BIN, BUNDLED_TEST, BUNDLED_TRAIN, FIXTURES, json, pg, ROOT, tempDir } from './support/pg.js';
import { schemaErrors } from './support/schemas.js';

// The deployment files of docs/scale-out.md, validated against Kubernetes' and GitHub Actions' schemas, and
// their shard and merge commands run here as written: N processes at once, then the merge, whose sweep.json
// must be the one an unsharded run writes.

interface Container {
  name: string;
  env?: Array<{ name: string; value: string }>;
  args: string[];
}
interface K8sDoc {
  kind: string;
  metadata: { name: string };
  spec: { completionMode?: string; completions?: number; template: { spec: { containers: Container[] } } };
}
interface WorkflowStep {
  run?: string;
}
interface Workflow {
  env: Record<string, string>;
  jobs: Record<string, { strategy?: { matrix: { shard: number[] } }; needs?: string; steps: WorkflowStep[] }>;
}

const K8S = join(ROOT, 'deploy/k8s/sweep-job.yaml');
const GITHUB = join(ROOT, 'deploy/github/sweep.yml');

/** What the deployments' variables become here: the tiny CNN, the bundled data, a 4-point grid of 2 steps each. */
const LOCAL = {
  MODEL: FIXTURES.tiny,
  DATA: BUNDLED_TRAIN,
  EVAL_DATA: BUNDLED_TEST,
  GRID: '--bits 4 --hbits 2,1 --target-sparsity 0.8,0.9',
  RECIPE: '--max-steps 2 --batch-size 64 --calibration-batches 1 --eval-limit 100',
};

let tmp: Awaited<ReturnType<typeof tempDir>>;
/** A folder with `pg` in it, as the image's PATH has it. */
let binDir: string;
let unsharded: SweepResult;

/** Runs a deployment's shell command as its container or runner would, with `pg` on PATH. */
function shell(command: string, env: Record<string, string>, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-e', '-c', command], {
      cwd,
      env: { ...process.env, CI: 'true', PATH: `${binDir}:${process.env.PATH}`, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** sweep.json without the wall times, which differ between any two runs. */
const comparable = (r: SweepResult): string => JSON.stringify({ ...r, points: r.points.map((p) => ({ ...p, seconds: null })) });
const readSweep = async (dir: string): Promise<SweepResult> => JSON.parse(await readFile(join(dir, 'sweep.json'), 'utf8')) as SweepResult;

async function expectUnshardedPoints(dir: string): Promise<void> {
  const merged = await readSweep(dir);
  expect(schemaErrors('sweep', merged)).toEqual([]);
  expect(merged.complete).toBe(4);
  expect(comparable(merged)).toBe(comparable(unsharded));
  for (const p of merged.points) expect(await readFile(join(dir, p.model!)), p.id).toEqual(await readFile(join(tmp.dir, 'unsharded', p.model!)));
}

beforeAll(async () => {
  tmp = await tempDir();
  binDir = join(tmp.dir, 'bin');
  await mkdir(binDir);
  await writeFile(join(binDir, 'pg'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
  await chmod(join(binDir, 'pg'), 0o755);
  const one = await shell(`pg sweep "$MODEL" --data "$DATA" --eval-data "$EVAL_DATA" $GRID $RECIPE --out-dir unsharded`, LOCAL, tmp.dir);
  expect(one.code, one.stderr).toBe(0);
  unsharded = await readSweep(join(tmp.dir, 'unsharded'));
}, 240_000);
afterAll(async () => {
  await tmp.remove();
});

describe('deploy/k8s/sweep-job.yaml', () => {
  let docs: K8sDoc[];
  beforeAll(async () => {
    docs = parseAllDocuments(await readFile(K8S, 'utf8')).map((d) => d.toJS() as K8sDoc);
  });

  it("is valid against Kubernetes' schemas: a volume, an Indexed Job whose completions are the shards, a merge Job", () => {
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual(['PersistentVolumeClaim/pg-sweep', 'Job/pg-sweep', 'Job/pg-sweep-merge']);
    new PersistentVolumeClaim(docs[0] as never).validate();
    for (const job of docs.slice(1)) new Job(job as never).validate();
    // The validator refuses what Kubernetes would: a wrong type is caught, not ignored.
    const broken = structuredClone(docs[1]) as unknown as { spec: { completions: unknown } };
    broken.spec.completions = 'four';
    expect(() => new Job(broken as never).validate()).toThrow(/completions must be integer/);
    const sweep = docs[1].spec;
    expect(sweep.completionMode).toBe('Indexed');
    expect(sweep.template.spec.containers[0].args[0]).toContain(`--shard auto/${sweep.completions}`);
  });

  it('runs as written: its shards at once in one shared out-dir, then its merge, give the unsharded sweep', async () => {
    const [sweep, merge] = [docs[1], docs[2]].map((d) => d.spec.template.spec.containers[0]);
    const envOf = (c: Container, local: Record<string, string>) => ({ ...Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value])), ...local });
    const outDir = join(tmp.dir, 'volume', 'sweep');
    const shards = await Promise.all(
      Array.from({ length: docs[1].spec.completions! }, (_, index) =>
        shell(sweep.args[0], envOf(sweep, { ...LOCAL, OUT_DIR: outDir, JOB_COMPLETION_INDEX: String(index) }), tmp.dir),
      ),
    );
    for (const s of shards) expect(s.code, s.stderr).toBe(0);
    const merged = await shell(merge.args[0], envOf(merge, { OUT_DIR: outDir }), tmp.dir);
    expect(merged.code, merged.stderr).toBe(0);
    await expectUnshardedPoints(outDir);
    expect((await readFile(join(outDir, 'sweep.html'), 'utf8')).split('<circle class="point').length - 1).toBe(4 * 2);
  }, 240_000);
});

describe('deploy/github/sweep.yml', () => {
  let text: string;
  let workflow: Workflow;
  beforeAll(async () => {
    text = await readFile(GITHUB, 'utf8');
    workflow = parse(text) as Workflow;
  });

  it("is valid against GitHub Actions' workflow schema, its matrix 1..N the N of --shard K/N", () => {
    const parsed = parseWorkflow({ name: 'sweep.yml', content: text }, new NoOperationTraceWriter());
    expect(parsed.context.errors.getErrors().map((e) => e.message)).toEqual([]);
    // The parser refuses what Actions would.
    const wrong = parseWorkflow({ name: 'wrong.yml', content: text.replace('matrix:', 'matrx:') }, new NoOperationTraceWriter());
    expect(
      wrong.context.errors
        .getErrors()
        .map((e) => e.message)
        .join('\n'),
    ).toMatch(/Unexpected value 'matrx'/);
    const matrix = workflow.jobs.shard.strategy!.matrix.shard;
    expect(matrix).toEqual(Array.from({ length: matrix.length }, (_, i) => i + 1));
    expect(workflow.jobs.shard.steps.map((s) => s.run).join('\n')).toContain(`--shard \${{ matrix.shard }}/${matrix.length}`);
    expect(workflow.jobs.merge.needs).toBe('shard');
  });

  it('runs as written: each matrix job on its own machine, the artifacts downloaded, then its merge, give the unsharded sweep', async () => {
    const runs = (job: string) => workflow.jobs[job].steps.filter((s) => s.run !== undefined).map((s) => s.run!);
    const env = { ...workflow.env, ...LOCAL };
    const matrix = workflow.jobs.shard.strategy!.matrix.shard;
    const machines = await Promise.all(
      matrix.map(async (k) => {
        const dir = join(tmp.dir, 'gh', `runner-${k}`);
        await mkdir(dir, { recursive: true });
        for (const run of runs('shard')) {
          const r = await shell(run.replaceAll('${{ matrix.shard }}', String(k)), env, dir);
          expect(r.code, r.stderr).toBe(0);
        }
        return dir;
      }),
    );
    // actions/download-artifact with a pattern: each artifact in a folder of its name under `path`.
    const mergeDir = join(tmp.dir, 'gh', 'merge-runner');
    for (const [i, dir] of machines.entries()) await cp(join(dir, 'shard'), join(mergeDir, 'shards', `shard-${matrix[i]}`), { recursive: true });
    for (const run of runs('merge')) {
      const r = await shell(run, env, mergeDir);
      expect(r.code, r.stderr).toBe(0);
    }
    await expectUnshardedPoints(join(mergeDir, 'sweep'));

    // What merge refuses, naming the files: a missing shard (unless --allow-partial, which it states), a shard
    // killed with points pending, a truncated shard file.
    const shardsDir = join(mergeDir, 'shards');
    const missing = await pg(['sweep', 'merge', ...[1, 2, 4].map((k) => join(shardsDir, `shard-${k}`)), '-o', join(tmp.dir, 'partial')]);
    expect(missing.code).toBe(8);
    expect(missing.stderr).toMatch(/^Error \[PG_SHARDS\]: shard 3 of 4 missing/m);
    const partial = await pg(['sweep', 'merge', ...[1, 2, 4].map((k) => join(shardsDir, `shard-${k}`)), '-o', join(tmp.dir, 'partial'), '--allow-partial', '--json']);
    expect(partial.code, partial.stdout).toBe(0);
    const p = json(partial).result as SweepResult;
    expect(schemaErrors('sweep', p)).toEqual([]);
    expect(p).toMatchObject({ complete: 3, pending: 1, partial: { shards: 4, missing_shards: [3], stopped_shards: [] } });
    const shard2 = join(shardsDir, 'shard-2', 'sweep.shard-2-of-4.json');
    const killed = JSON.parse(await readFile(shard2, 'utf8')) as SweepResult;
    killed.points[0] = { ...killed.points[0], status: 'pending' };
    const killedDir = join(tmp.dir, 'killed');
    await mkdir(killedDir);
    await writeFile(join(killedDir, 'sweep.shard-2-of-4.json'), JSON.stringify(killed));
    const stopped = await pg(['sweep', 'merge', join(shardsDir, 'shard-1'), killedDir, join(shardsDir, 'shard-3'), join(shardsDir, 'shard-4'), '-o', join(tmp.dir, 'x')]);
    expect(stopped.code).toBe(8);
    expect(stopped.stderr).toContain(`${join(killedDir, 'sweep.shard-2-of-4.json')}: shard 2/4 has 1 point(s) pending`);
    const text = await readFile(shard2, 'utf8');
    await writeFile(join(killedDir, 'sweep.shard-2-of-4.json'), text.slice(0, 100));
    const truncated = await pg(['sweep', 'merge', join(shardsDir, 'shard-1'), killedDir, '-o', join(tmp.dir, 'x')]);
    expect(truncated.code).toBe(8);
    expect(truncated.stderr).toContain('sweep.shard-2-of-4.json is not a complete shard file');
  }, 240_000);
});

describe('pg sweep --dry-run', () => {
  it("prints each shard's points and estimated cost: a 24-point grid 4 ways within 1.2x of the mean", async () => {
    const run = await pg([
      'sweep',
      FIXTURES.tiny,
      '--data',
      BUNDLED_TRAIN,
      '--eval-data',
      BUNDLED_TEST,
      '--bits',
      '4,3',
      '--hbits',
      '2,1',
      '--target-sparsity',
      '0.5,0.6,0.7,0.8,0.9,0.95',
      '--out-dir',
      join(tmp.dir, 'never'),
      '--shard',
      '2/4',
      '--dry-run',
      '--json',
    ]);
    expect(run.code, run.stdout).toBe(0);
    const plan = json(run).result as SweepPlanJson;
    expect(plan.points).toHaveLength(24);
    expect(plan.shards.map((s) => s.points.length)).toEqual([6, 6, 6, 6]);
    expect(plan.imbalance).toBeLessThanOrEqual(1.2);
    expect(plan.shard).toEqual({ index: 2, count: 4 });
    const text = await pg(['sweep', FIXTURES.tiny, '--data', BUNDLED_TRAIN, '--target-sparsity', '0.8', '--out-dir', join(tmp.dir, 'never'), '--shard', '1/1', '--dry-run']);
    expect(text.stdout).toMatch(/^1\/1 \(this run\)\s+1\s/m);
    // Nothing was written.
    await expect(readFile(join(tmp.dir, 'never', 'sweep.shard-2-of-4.json'))).rejects.toThrow(/ENOENT/);
  });
});
