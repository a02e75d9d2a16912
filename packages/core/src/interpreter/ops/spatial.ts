import type { Node } from '../../graph/index.js';
import { attrInts, attrString } from '../attributes.js';
import { malformed, unsupported } from './common.js';

/** The spatial attributes Conv and the pooling ops share, for `rank` spatial axes, with ONNX defaults. */
export interface SpatialAttrs {
  strides: number[];
  dilations: number[];
  /** ONNX order: all begins, then all ends. */
  pads: number[];
  autoPad: 'NOTSET' | 'VALID' | 'SAME_UPPER' | 'SAME_LOWER';
}

export function spatialAttrs(node: Node, rank: number): SpatialAttrs {
  const ints = (name: string, def: number, n: number): number[] => {
    const v = attrInts(node, name) ?? new Array<number>(n).fill(def);
    if (v.length !== n) throw malformed(node, `attribute '${name}' has ${v.length} values for ${rank} spatial axes`);
    return v;
  };
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  if (autoPad !== 'NOTSET' && autoPad !== 'VALID' && autoPad !== 'SAME_UPPER' && autoPad !== 'SAME_LOWER') {
    throw unsupported(node, `auto_pad '${autoPad}' is not supported`);
  }
  return { strides: ints('strides', 1, rank), dilations: ints('dilations', 1, rank), pads: ints('pads', 0, 2 * rank), autoPad };
}

/** A 1-D op's attributes as a 2-D op over [1, L]: 1-D convolutions and pools run on the 2-D kernels. */
export function lift1d(a: SpatialAttrs): SpatialAttrs {
  return { strides: [1, ...a.strides], dilations: [1, ...a.dilations], pads: [0, a.pads[0], 0, a.pads[1]], autoPad: a.autoPad };
}

/**
 * Explicit [begin, end] padding per spatial axis. SAME_* pads so that out = ceil(in / stride), the odd
 * cell going at the end (UPPER) or the beginning (LOWER).
 */
export function explicitPads(a: SpatialAttrs, inSize: number[], kernel: number[]): [number, number][] {
  const rank = inSize.length;
  return inSize.map((n, i) => {
    if (a.autoPad === 'NOTSET') return [a.pads[i], a.pads[i + rank]];
    if (a.autoPad === 'VALID') return [0, 0];
    const s = a.strides[i];
    const total = Math.max((Math.ceil(n / s) - 1) * s + (kernel[i] - 1) * a.dilations[i] + 1 - n, 0);
    const begin = a.autoPad === 'SAME_LOWER' ? Math.ceil(total / 2) : Math.floor(total / 2);
    return [begin, total - begin];
  });
}
