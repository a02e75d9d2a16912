import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { InvalidDataError } from '../errors/index.js';
import { encodeNpy, type NpyArray } from './npy.js';
import { npzArrayNames, parseNpz } from './npz.js';

const x: NpyArray = { dtype: 'float32', shape: [2, 1, 2, 2], data: Float32Array.from({ length: 8 }, (_, i) => i / 8) };
const y: NpyArray = { dtype: 'int64', shape: [2], data: BigInt64Array.from([3n, 1n]) };

describe('parseNpz', () => {
  it.each([
    ['stored', 0],
    ['deflated', 6],
  ] as const)('reads x and y from a %s zip', (_, level) => {
    const zip = zipSync({ 'x.npy': encodeNpy(x), 'y.npy': encodeNpy(y), 'notes.txt': new Uint8Array([104, 105]) }, { level });
    const arrays = parseNpz(zip, 'd.npz');
    expect([...arrays.keys()].sort()).toEqual(['x', 'y']); // non-.npy entries are ignored
    expect(arrays.get('x')).toEqual(x);
    expect(arrays.get('y')).toEqual(y);
  });

  it('decompresses only the requested names and lists names cheaply', () => {
    const zip = zipSync({ 'x.npy': encodeNpy(x), 'big.npy': new Uint8Array([1, 2, 3]) });
    // 'big.npy' is not valid npy: it would throw if it were parsed.
    expect([...parseNpz(zip, 'd.npz', ['x', 'y']).keys()]).toEqual(['x']);
    expect(npzArrayNames(zip).sort()).toEqual(['big', 'x']);
  });

  it('names the file, and the entry for a bad array inside', () => {
    expect(() => parseNpz(new Uint8Array([1, 2, 3, 4, 5]), 'bad.npz')).toThrow(/bad\.npz is not a readable \.npz file/);
    const zip = zipSync({ 'x.npy': encodeNpy(x).subarray(0, 100) });
    expect(() => parseNpz(zip, 'cut.npz')).toThrow(InvalidDataError);
    expect(() => parseNpz(zip, 'cut.npz')).toThrow(/cut\.npz:x\.npy .*truncated/);
  });
});
