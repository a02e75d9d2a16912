import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32, type Rng } from '../src/data/random.js';
import { encodeNpy, parseNpy, type NpyArray } from '../src/data/npy.js';
import { openNpyDataset } from '../src/data/npy-dataset.js';
import { PgError } from '../src/errors/index.js';
import { checkFiniteWeights, decodeModel, encodeModel, readModel, writeModel } from '../src/onnx/index.js';
import { fixtureModel } from './fixtures.js';

/**
 * Mutated ONNX and NPY files fed to the readers: every case must either load or throw a PgError (no
 * TypeError, RangeError or protobuf error escaping), finish within a time bound, and leave the heap
 * where it was. PG_FUZZ_CASES=50000 runs a longer campaign; PG_FUZZ_SEED picks another stream.
 */
const CASES = Number(process.env.PG_FUZZ_CASES ?? 2000);
const SEED = Number(process.env.PG_FUZZ_SEED ?? 6);
/** Generous: a case takes about a millisecond, but the CI machine may be loaded. */
const CASE_TIME_LIMIT_MS = 2000;
const HEAP_GROWTH_LIMIT = 256 * 2 ** 20;
/** Long campaigns get time in proportion (about 10 ms a case on a loaded machine). */
const TEST_TIMEOUT_MS = Math.max(120_000, CASES * 20);

type Mutation = (bytes: Uint8Array, rng: Rng) => { bytes: Uint8Array; what: string };

const int = (rng: Rng, n: number): number => Math.floor(rng() * n);

const flipBits: Mutation = (bytes, rng) => {
  const out = new Uint8Array(bytes);
  const flips = 1 + int(rng, 8);
  const at: number[] = [];
  for (let k = 0; k < flips && out.length > 0; k++) {
    const i = int(rng, out.length);
    out[i] ^= 1 << int(rng, 8);
    at.push(i);
  }
  return { bytes: out, what: `bit flips at ${at.join(',')}` };
};

const truncate: Mutation = (bytes, rng) => {
  const n = int(rng, bytes.length);
  return { bytes: bytes.subarray(0, n), what: `truncated to ${n} bytes` };
};

const overwriteRun: Mutation = (bytes, rng) => {
  const out = new Uint8Array(bytes);
  const start = int(rng, out.length);
  const n = 1 + int(rng, 16);
  const value = rng() < 0.5 ? 0xff : int(rng, 256);
  out.fill(value, start, start + n);
  return { bytes: out, what: `${n} bytes at ${start} set to ${value}` };
};

/** Offsets of the length varints of length-delimited protobuf fields, found by walking nested messages. */
function lengthFields(bytes: Uint8Array, start = 0, end = bytes.length, depth = 0, found: number[] = []): number[] {
  let pos = start;
  const varint = (): number | undefined => {
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (pos >= end) return undefined;
      const b = bytes[pos++];
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
    return undefined;
  };
  while (pos < end) {
    const key = varint();
    if (key === undefined || key === 0) return found;
    const wire = key & 7;
    if (wire === 0) {
      if (varint() === undefined) return found;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const at = pos;
      const len = varint();
      if (len === undefined || pos + len > end) return found;
      found.push(at);
      // Nested messages are parsed too; strings and packed numbers simply stop the walk early.
      if (depth < 8 && len > 1) lengthFields(bytes, pos, pos + len, depth + 1, found);
      pos += len;
    } else return found;
  }
  return found;
}

function encodeVarint(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

/** Rewrites one length field: a little off, zero, or huge (re-encoded, so the varint may change size). */
const fieldCache = new WeakMap<Uint8Array, number[]>();
const changeLength: Mutation = (bytes, rng) => {
  let fields = fieldCache.get(bytes);
  if (fields === undefined) fieldCache.set(bytes, (fields = lengthFields(bytes)));
  if (fields.length === 0) return flipBits(bytes, rng);
  const at = fields[int(rng, fields.length)];
  let end = at;
  let old = 0;
  for (let shift = 0; ; shift += 7) {
    const b = bytes[end++];
    old += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  const choices = [old + 1, Math.max(0, old - 1), old + 1 + int(rng, 64), Math.max(0, old - 1 - int(rng, 64)), 0, 2 ** 31 - 1, 2 ** 32 + int(rng, 1000)];
  const value = choices[int(rng, choices.length)];
  const varint = encodeVarint(value);
  const out = new Uint8Array(bytes.length - (end - at) + varint.length);
  out.set(bytes.subarray(0, at));
  out.set(varint, at);
  out.set(bytes.subarray(end), at + varint.length);
  return { bytes: out, what: `length field at ${at}: ${old} -> ${value}` };
};

const MODEL_MUTATIONS: [string, Mutation][] = [
  ['flip', flipBits],
  ['truncate', truncate],
  ['overwrite', overwriteRun],
  ['length', changeLength],
  ['length', changeLength],
];

interface Source {
  name: string;
  bytes: Uint8Array;
  /** Relative share of the cases (default 1). */
  weight?: number;
  /** Read through a file (readModel) rather than from memory, e.g. to resolve external data. */
  viaFile?: boolean;
}

function pick(sources: Source[], rng: Rng): Source {
  const total = sources.reduce((a, s) => a + (s.weight ?? 1), 0);
  let r = rng() * total;
  for (const s of sources) if ((r -= s.weight ?? 1) < 0) return s;
  return sources[sources.length - 1];
}

interface Outcome {
  ok: number;
  pgErrors: number;
  failures: string[];
  slowest: number;
}

/** Runs `cases` mutations of `sources` through `read`; anything but success or a PgError is a failure. */
async function fuzz(
  label: string,
  sources: Source[],
  mutations: [string, Mutation][],
  cases: number,
  seed: number,
  read: (bytes: Uint8Array, index: number, source: Source) => Promise<unknown> | unknown,
): Promise<Outcome> {
  const rng = mulberry32(seed);
  const outcome: Outcome = { ok: 0, pgErrors: 0, failures: [], slowest: 0 };
  for (let i = 0; i < cases; i++) {
    const source = pick(sources, rng);
    const [kind, mutate] = mutations[int(rng, mutations.length)];
    const { bytes, what } = mutate(source.bytes, rng);
    const started = performance.now();
    try {
      await read(bytes, i, source);
      outcome.ok++;
    } catch (e) {
      if (e instanceof PgError) outcome.pgErrors++;
      else outcome.failures.push(`${label} case ${i} (seed ${seed}, ${source.name}, ${kind}: ${what}): ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    }
    const took = performance.now() - started;
    outcome.slowest = Math.max(outcome.slowest, took);
    if (took > CASE_TIME_LIMIT_MS) outcome.failures.push(`${label} case ${i} (seed ${seed}, ${source.name}, ${kind}: ${what}) took ${took.toFixed(0)} ms`);
  }
  return outcome;
}

describe('fuzzed files end in a PgError or load', () => {
  let dir: string;
  const models: Source[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pg-fuzz-'));
    const tiny = readFileSync(fixtureModel('tiny-cnn'));
    models.push({ name: 'tiny-cnn.onnx', bytes: tiny });
    // 30 times the size of the tiny one, so a smaller share keeps the test at a few seconds.
    models.push({ name: 'resnet-fmnist.onnx', bytes: readFileSync(fixtureModel('resnet-fmnist')), weight: 0.03 });
    // The tiny model with its weights in an external data file: mutations then hit locations, offsets
    // and lengths too. Its data file stays next to every mutated copy.
    const external = join(dir, 'external.onnx');
    await writeModel(await readModel(fixtureModel('tiny-cnn')), external, { externalData: 'all', threshold: 64 });
    models.push({ name: 'external.onnx (+ external.onnx.data)', bytes: readFileSync(external), viaFile: true });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(
    `${CASES} mutated ONNX models: decoding (and readModel for external data), graph validation, the weight check, re-encoding`,
    async () => {
      const heapBefore = process.memoryUsage().heapUsed;
      let heapPeak = heapBefore;
      // Cases are named as a file in the same folder, so external data references resolve against
      // external.onnx.data; those go through a real file and readModel (which also checks the data file's
      // extent), the others are decoded from memory (writing a file per case would dominate the time).
      const path = join(dir, 'case.onnx');
      const outcome = await fuzz('onnx', models, MODEL_MUTATIONS, CASES, SEED, async (bytes, i, source) => {
        let model;
        if (source.viaFile) {
          writeFileSync(path, bytes);
          model = await readModel(path);
        } else {
          model = decodeModel(bytes, path);
        }
        checkFiniteWeights(model);
        encodeModel(model);
        if (i % 50 === 0) heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
      });
      expect(outcome.failures).toEqual([]);
      // Both outcomes occur, or the mutations are not reaching the decoder.
      expect(outcome.pgErrors).toBeGreaterThan(CASES / 4);
      expect(outcome.ok).toBeGreaterThan(0);
      expect(heapPeak - heapBefore).toBeLessThan(HEAP_GROWTH_LIMIT);
      console.log(
        `onnx fuzz: ${outcome.ok} loaded, ${outcome.pgErrors} PgErrors, slowest case ${outcome.slowest.toFixed(1)} ms, heap +${((heapPeak - heapBefore) / 2 ** 20).toFixed(0)} MiB at peak`,
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    `${CASES} mutated NPY files: parseNpy, and every tenth as a data set read from the file`,
    async () => {
      const arrays: NpyArray[] = [
        { dtype: 'float32', shape: [4, 1, 3, 3], data: Float32Array.from({ length: 36 }, (_, i) => i / 7) },
        { dtype: 'int64', shape: [5], data: BigInt64Array.from([0n, 1n, 2n, 3n, 9n]) },
        { dtype: 'uint8', shape: [2, 2, 2], data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]) },
        { dtype: 'float64', shape: [3], data: Float64Array.from([1.5, -2, 1e300]) },
        { dtype: 'int16', shape: [], data: Int16Array.from([7]) },
      ];
      const sources = arrays.map((a) => ({ name: `${a.dtype}${JSON.stringify(a.shape)}`, bytes: encodeNpy(a) }));
      const headerEdit: Mutation = (bytes, rng) => {
        // The text header is where a parser is most fragile: change one character of it to a meaningful one.
        const out = new Uint8Array(bytes);
        const at = 10 + int(rng, Math.max(1, Math.min(out.length, 128) - 10));
        const chars = "0123456789(),'<>|=: fiub{}LTrueFalse\n";
        out[at] = chars.charCodeAt(int(rng, chars.length));
        return { bytes: out, what: `header byte ${at} = ${JSON.stringify(String.fromCharCode(out[at]))}` };
      };
      const headerLength: Mutation = (bytes, rng) => {
        const out = new Uint8Array(bytes);
        const v = [0, 1, out[8] + 1, out[8] - 1, 0xffff][int(rng, 5)] & 0xffff;
        new DataView(out.buffer).setUint16(8, v, true);
        return { bytes: out, what: `header length ${v}` };
      };
      const heapBefore = process.memoryUsage().heapUsed;
      const path = join(dir, 'case.npy');
      const outcome = await fuzz(
        'npy',
        sources,
        [
          ['flip', flipBits],
          ['truncate', truncate],
          ['overwrite', overwriteRun],
          ['header', headerEdit],
          ['header-length', headerLength],
        ],
        CASES,
        SEED,
        async (bytes, i) => {
          // Every tenth case also as a data set read from the file batch by batch (npy-file-dataset.ts).
          if (i % 10 === 0) {
            writeFileSync(path, bytes);
            const ds = await openNpyDataset(path);
            let n = 0;
            for await (const b of ds.batches(3, { shuffle: true, seed: i })) n += b.shape[0];
            if (n !== ds.size) throw new Error(`${n} samples read of ${ds.size}`);
            return;
          }
          const a = parseNpy(bytes, 'fuzz.npy');
          // A successful parse must describe its data consistently.
          const count = a.shape.reduce((x, y) => x * y, 1);
          if (a.data.length !== count) throw new Error(`shape (${a.shape.join(', ')}) but ${a.data.length} values`);
        },
      );
      expect(outcome.failures).toEqual([]);
      expect(outcome.pgErrors).toBeGreaterThan(CASES / 4);
      expect(outcome.ok).toBeGreaterThan(0);
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(HEAP_GROWTH_LIMIT);
      console.log(`npy fuzz: ${outcome.ok} parsed, ${outcome.pgErrors} PgErrors, slowest case ${outcome.slowest.toFixed(1)} ms`);
    },
    TEST_TIMEOUT_MS,
  );
});
