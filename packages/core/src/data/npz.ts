import { unzipSync } from 'fflate';
import { InvalidDataError } from '../errors/index.js';
import { readDataFile } from './data-file.js';
import { parseNpy, type NpyArray } from './npy.js';

/** Reads an .npz file (np.savez / np.savez_compressed): a zip of .npy files, one per named array. */
export async function readNpzFile(path: string, names?: readonly string[]): Promise<Map<string, NpyArray>> {
  return parseNpz(await readDataFile(path), path, names);
}

/**
 * Parses .npz bytes into arrays keyed by name ('x' for the entry 'x.npy').
 * With `names`, only those entries are decompressed (absent ones are simply missing from the map).
 */
export function parseNpz(bytes: Uint8Array, file: string, names?: readonly string[]): Map<string, NpyArray> {
  const wanted = names === undefined ? undefined : new Set(names);
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes, {
      filter: (f) => f.name.endsWith('.npy') && (wanted === undefined || wanted.has(f.name.slice(0, -4))),
    });
  } catch (e) {
    throw new InvalidDataError(`${file} is not a readable .npz file: ${(e as Error).message}.`, {
      action: 'Save the arrays with numpy.savez or numpy.savez_compressed, e.g. np.savez("data.npz", x=x, y=y).',
      cause: e,
    });
  }
  const arrays = new Map<string, NpyArray>();
  for (const [entry, data] of Object.entries(entries)) {
    arrays.set(entry.slice(0, -4), parseNpy(data, `${file}:${entry}`));
  }
  return arrays;
}

/** Names of the arrays in an .npz without decompressing them, for error messages. */
export function npzArrayNames(bytes: Uint8Array): string[] {
  const found: string[] = [];
  try {
    unzipSync(bytes, {
      filter: (f) => {
        if (f.name.endsWith('.npy')) found.push(f.name.slice(0, -4));
        return false;
      },
    });
  } catch {
    // Only used to enrich a message; an unreadable zip has already been reported.
  }
  return found;
}
