import protobuf from 'protobufjs/minimal.js';

/** protobufjs returns int64 fields as Long objects (the `long` package is installed) or plain numbers. */
export interface LongLike {
  low: number;
  high: number;
}
export type Int64 = number | LongLike;

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

export function int64ToBigInt(v: Int64, unsigned = false): bigint {
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  const bits = (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
  return unsigned ? bits : BigInt.asIntN(64, bits);
}

/** The exact value, or undefined when it does not fit a JS number exactly (dims, offsets, versions must). */
export function int64ToSafeNumber(v: Int64 | null | undefined): number | undefined {
  if (v === null || v === undefined) return undefined;
  const b = int64ToBigInt(v);
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : undefined;
}

/**
 * The nearest JS number, for attribute ints: they can hold INT64_MAX/INT64_MIN sentinels (e.g. Slice
 * `ends`), which become +-2^63 here and are saturated back by {@link numberToInt64} when written.
 */
export function int64ToNumber(v: Int64): number {
  return typeof v === 'number' ? v : Number(int64ToBigInt(v));
}

/**
 * A JS number as a protobuf int64 field value, or undefined if it is not an integer. Numbers beyond the
 * int64 range saturate (protobufjs would otherwise wrap 2^63 to INT64_MIN).
 */
export function numberToInt64(n: number): number | ReturnType<typeof longFromBigInt> | undefined {
  if (!Number.isInteger(n)) return undefined;
  if (Number.isSafeInteger(n)) return n;
  let b = BigInt(n);
  if (b > INT64_MAX) b = INT64_MAX;
  if (b < INT64_MIN) b = INT64_MIN;
  return longFromBigInt(b);
}

function longFromBigInt(b: bigint) {
  const u = BigInt.asUintN(64, b);
  return new protobuf.util.Long(Number(u & 0xffffffffn) | 0, Number(u >> 32n) | 0, false);
}
