import { ShardError, UsageError } from '../errors/pg-error.js';
import { readFileBytes } from './read-file.js';

/** Shard `index` (1-based, as vitest's and Playwright's `--shard K/N`) of `count` shards. */
export interface ShardSpec {
  index: number;
  count: number;
}

/** `K/N` as the flag and the shard files print it. */
export const shardLabel = (s: ShardSpec): string => `${s.index}/${s.count}`;

/** Throws a usage error unless 1 ≤ index ≤ count, both integers. */
export function checkShard(s: ShardSpec): void {
  if (!(Number.isSafeInteger(s.count) && s.count >= 1 && Number.isSafeInteger(s.index) && s.index >= 1 && s.index <= s.count)) {
    throw new UsageError(`shard ${s.index}/${s.count} does not exist: K must be from 1 to N`, { action: 'give --shard K/N with 1 <= K <= N, e.g. --shard 1/4' });
  }
}

/**
 * What every shard file records besides its results: which shard it is and what it was computed from (model
 * hash, data and its size, the flags that change a result, pg's version). Shards merge only when their
 * identities are equal.
 */
export interface ShardStamp {
  shard: ShardSpec;
  identity: Record<string, unknown>;
}

/** A shard file read from disk: where it is, its stamp, and its content. */
export interface ShardFile<T> extends ShardStamp {
  path: string;
  content: T;
}

/** A shard file's JSON; a ShardError when it is not complete JSON (truncated or corrupt), a FileAccessError when unreadable. */
export async function readShardJson(path: string): Promise<unknown> {
  const text = new TextDecoder().decode(await readFileBytes(path));
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new ShardError(`${path} is not a complete shard file: ${text.trim() === '' ? 'it is empty' : `its JSON does not parse (${(e as Error).message})`}`, {
      action: 'run that shard again (with --resume for a sweep): a shard killed while writing leaves no usable file',
      cause: e,
    });
  }
}

/** The stamp of a parsed shard file, or a ShardError naming the file when it has none. */
export function shardStamp(path: string, stamp: unknown): ShardStamp {
  const s = stamp as Partial<ShardStamp> | undefined;
  const spec = s?.shard;
  const valid =
    typeof s?.identity === 'object' &&
    s.identity !== null &&
    typeof spec === 'object' &&
    spec !== null &&
    Number.isSafeInteger(spec.index) &&
    Number.isSafeInteger(spec.count) &&
    spec.index >= 1 &&
    spec.index <= spec.count;
  if (!valid) throw new ShardError(`${path} is not a pg shard file: it records no shard K/N and identity`, { action: 'give the files the sharded runs wrote (--shard K/N)' });
  return { shard: { index: spec.index, count: spec.count }, identity: s.identity! };
}

const show = (v: unknown): string => {
  const text = JSON.stringify(v) ?? 'undefined';
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

/**
 * Checks that shard files make one result: the same identity and shard count, no shard twice, and (unless
 * `allowPartial`) none missing. Returns the missing shard indices (empty unless partial). Every error names
 * the files at fault.
 */
export function checkShardSet(files: ReadonlyArray<{ path: string } & ShardStamp>, allowPartial: boolean): number[] {
  if (files.length === 0) throw new ShardError('no shard file to merge', { action: 'give the shard files (or the folders holding them)' });
  const [first, ...rest] = files;
  for (const f of rest) {
    if (f.shard.count !== first.shard.count) {
      throw new ShardError(`${first.path} is shard ${shardLabel(first.shard)} and ${f.path} shard ${shardLabel(f.shard)}: shards of different splits`, {
        action: 'merge the shards of one run (the same --shard N)',
      });
    }
    const keys = [...new Set([...Object.keys(first.identity), ...Object.keys(f.identity)])];
    const differ = keys.filter((k) => JSON.stringify(first.identity[k]) !== JSON.stringify(f.identity[k]));
    if (differ.length > 0) {
      const list = differ.map((k) => `${k} ${show(first.identity[k])} vs ${show(f.identity[k])}`).join(', ');
      throw new ShardError(`${first.path} and ${f.path} were computed from different inputs (${list})`, {
        action: 'merge shards of one run: the same model, data, flags and pg version',
      });
    }
  }
  const seen = new Map<number, string>();
  for (const f of files) {
    const twice = seen.get(f.shard.index);
    if (twice !== undefined) throw new ShardError(`shard ${shardLabel(f.shard)} is given twice: ${twice} and ${f.path}`, { action: 'give each shard once' });
    seen.set(f.shard.index, f.path);
  }
  const missing: number[] = [];
  for (let k = 1; k <= first.shard.count; k++) if (!seen.has(k)) missing.push(k);
  if (missing.length > 0 && !allowPartial) {
    throw new ShardError(`shard${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of ${first.shard.count} missing (given: ${files.map((f) => f.path).join(', ')})`, {
      action: 'run the missing shards, or pass --allow-partial to merge what there is (the output then says it is partial)',
    });
  }
  return missing;
}
