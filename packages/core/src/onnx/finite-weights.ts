import { InvalidModelError } from '../errors/pg-error.js';
import type { Model } from '../graph/ir.js';
import type { ConstTensor } from '../graph/tensor.js';
import { decodeRaw } from './raw-data.js';
import { undecodedStorageBytes } from './tensor-codec.js';

const FLOAT_TYPES = new Set(['float32', 'float64', 'float16']);

/**
 * Fails on the first NaN or infinite value in a floating-point initializer of the main graph: such a
 * model cannot be quantized (scales come from max |w|) and computes nothing meaningful. Tensors never
 * decoded are scanned from their stored bytes without keeping a decoded copy (at most one tensor's).
 */
export function checkFiniteWeights(model: Model): void {
  const where = model.sourcePath ?? 'the model';
  for (const t of model.graph.initializers.values()) {
    if (!FLOAT_TYPES.has(t.dtype)) continue;
    const values = floatValues(t);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v - v !== 0) {
        // false only for NaN and ±Infinity, and faster than Number.isFinite per element
        throw new InvalidModelError(`${where}: initializer '${t.name}' holds ${v} at index ${i} (of ${values.length} values)`, {
          action: 'The weights are corrupt or the training diverged; export the model again from a checkpoint with finite weights.',
        });
      }
    }
  }
}

function floatValues(t: ConstTensor): ArrayLike<number> {
  const bytes = undecodedStorageBytes(t);
  if (bytes === undefined) return t.data() as Float32Array | Float64Array;
  const count = t.dims.reduce((a, b) => a * b, 1);
  return decodeRaw(t.dtype as 'float32' | 'float64' | 'float16', bytes, count) as Float32Array | Float64Array;
}
