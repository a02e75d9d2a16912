import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: tests name fixtures relative to it. */
export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
/** The real built binary (`pnpm test` builds first). */
export const BIN = join(ROOT, 'packages/cli/bin/run.js');

export const FIXTURES = {
  tiny: join(ROOT, 'fixtures/models/tiny-cnn.onnx'),
  resnet: join(ROOT, 'fixtures/models/resnet-fmnist.onnx'),
  /** fixtures/make_user_models.py: BatchNormalization kept, some scales negative; an MLP behind Flatten. */
  bnUnfolded: join(ROOT, 'fixtures/models/resnet-bn-unfolded.onnx'),
  mlp: join(ROOT, 'fixtures/models/mlp-fmnist.onnx'),
} as const;

/** The bundled Fashion-MNIST subset: fast, and the same on every machine whether or not Debian's copy is installed. */
export const BUNDLED_TRAIN = 'fashion-mnist:train?source=bundled';
export const BUNDLED_TEST = 'fashion-mnist:test?source=bundled';

export interface PgRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface PgRunOptions {
  env?: Record<string, string | undefined>;
  /** Called with each chunk of stderr and the child, e.g. to interrupt it once training has started. */
  onStderr?: (text: string, child: { kill(signal: NodeJS.Signals): boolean }) => void;
}

/** Runs `node bin/run.js ...args` from the repository root, as a user's shell would, without a terminal. */
export function pg(args: string[], opts: PgRunOptions = {}): Promise<PgRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, CI: 'true', PG_DEBUG: undefined, PG_DATA_DIR: undefined, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      opts.onStderr?.(stderr, child);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Parses stdout as the single JSON document that --json promises. */
export function json(run: PgRun): Record<string, unknown> {
  try {
    return JSON.parse(run.stdout) as Record<string, unknown>;
  } catch {
    throw new Error(`stdout is not one JSON document (exit ${String(run.code)}):\n${run.stdout}\nstderr:\n${run.stderr}`);
  }
}

/** A fresh temp folder, and a function that removes it. */
export async function tempDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'pg-cli-test-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
