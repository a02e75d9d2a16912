import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Flags } from '@oclif/core';
import { FileAccessError, UsageError, type ShardSpec } from '@pg/core';

/** `--shard auto` or `auto/N`: K from the environment, N as given or from it. */
export interface AutoShard {
  auto: true;
  count?: number;
}

/** `--shard K/N`, `auto/N` or `auto`, checked at parse time (the thrown message omits the flag name because oclif prefixes it). */
export function parseShardFlag(input: string): ShardSpec | AutoShard {
  const auto = /^\s*auto\s*(?:\/\s*(\d+)\s*)?$/.exec(input);
  if (auto !== null) {
    if (auto[1] === undefined) return { auto: true };
    const count = Number(auto[1]);
    if (count < 1) throw new UsageError(`auto/${count} has no shard: N must be at least 1`);
    return { auto: true, count };
  }
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(input);
  if (m === null) throw new UsageError(`expected K/N (shard K of N, e.g. 2/4), auto/N or auto, got '${input}'`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (!(count >= 1 && index >= 1 && index <= count)) throw new UsageError(`shard ${index}/${count} does not exist: K must be from 1 to N`);
  return { index, count };
}

/**
 * Where `--shard auto` finds K and N: Kubernetes' Indexed Jobs number their pods from 0 in JOB_COMPLETION_INDEX;
 * GitLab's `parallel:` numbers jobs from 1 in CI_NODE_INDEX, of CI_NODE_TOTAL. N comes from `auto/N` first.
 */
export const SHARD_INDEX_VARIABLES = [
  { name: 'JOB_COMPLETION_INDEX', base: 0 },
  { name: 'CI_NODE_INDEX', base: 1 },
] as const;
export const SHARD_COUNT_VARIABLE = 'CI_NODE_TOTAL';

/** The shard a run covers: --shard K/N as given, or with `auto` K from the environment and N from `auto/N` or CI_NODE_TOTAL. */
export function resolveShard(flag: ShardSpec | AutoShard | undefined, env: NodeJS.ProcessEnv = process.env): ShardSpec | undefined {
  if (flag === undefined || !('auto' in flag)) return flag;
  const source = SHARD_INDEX_VARIABLES.find((v) => env[v.name] !== undefined && env[v.name] !== '');
  if (source === undefined) {
    throw new UsageError(`--shard auto: none of ${SHARD_INDEX_VARIABLES.map((v) => v.name).join(', ')} is set, so the shard index is unknown.`, {
      action: 'Run it as a Kubernetes Indexed Job (JOB_COMPLETION_INDEX) or a GitLab parallel job (CI_NODE_INDEX), or give --shard K/N.',
    });
  }
  const raw = env[source.name]!;
  if (!/^\s*\d+\s*$/.test(raw))
    throw new UsageError(`--shard auto: ${source.name} is '${raw}', not a shard index.`, { action: `Set ${source.name} to a whole number, or give --shard K/N.` });
  const countText = flag.count === undefined ? env[SHARD_COUNT_VARIABLE] : String(flag.count);
  if (countText === undefined || countText === '') {
    throw new UsageError(`--shard auto: the number of shards is unknown.`, { action: `Give it as --shard auto/N (the Job's completions), or set ${SHARD_COUNT_VARIABLE}.` });
  }
  if (!/^\s*\d+\s*$/.test(countText))
    throw new UsageError(`--shard auto: ${SHARD_COUNT_VARIABLE} is '${countText}', not a number of shards.`, {
      action: `Set ${SHARD_COUNT_VARIABLE} to a whole number, or give --shard auto/N.`,
    });
  const spec = { index: Number(raw) - source.base + 1, count: Number(countText) };
  if (!(spec.count >= 1 && spec.index >= 1 && spec.index <= spec.count)) {
    throw new UsageError(`--shard auto: ${source.name}=${raw} is no shard of ${spec.count} (K would be ${spec.index}).`, {
      action: `Run ${spec.count} shards, numbered as ${source.name} numbers them (from ${source.base}).`,
    });
  }
  return spec;
}

/** --shard (pg sweep, pg report); `does` says what a shard runs. */
export function shardFlag(does: string) {
  return Flags.custom<ShardSpec | AutoShard>({ parse: async (input) => parseShardFlag(input) })({
    helpValue: 'K/N|auto/N|auto',
    summary: `${does} auto: K from JOB_COMPLETION_INDEX + 1 (Kubernetes) or CI_NODE_INDEX (GitLab), N from auto/N or CI_NODE_TOTAL.`,
  });
}

/** SHA-256 of a file, hex: what a shard file records of its model. */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (e) {
    throw new FileAccessError(`Cannot read '${path}': ${(e as Error).message}`, { action: 'Check the path.', cause: e });
  }
  return hash.digest('hex');
}
