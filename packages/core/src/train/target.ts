import { UsageError } from '../errors/index.js';
import type { PgLayer } from '../gating/index.js';

/**
 * The sparsity a fine-tune is given, from --target-sparsity or --target-bavg (undefined when neither is
 * given, or for 'none'; planFinetune applies the default). A gated layer computes B_hb bits for every output
 * and B_lb = B - B_hb more for the fraction 1 - S that takes the update, so B_avg = B_hb + (1 - S)·B_lb and
 * S = 1 - (B_avg - B_hb)/B_lb. B_avg must lie in [B_hb, B].
 */
export function resolveTargetSparsity(layers: PgLayer[], target: { targetSparsity?: number | 'none'; targetBavg?: number }): number | undefined {
  const { targetSparsity, targetBavg } = target;
  if (targetSparsity !== undefined && targetBavg !== undefined) {
    throw new UsageError('--target-sparsity and --target-bavg set the same thing; give one of them.', {
      action: 'Keep --target-sparsity S or --target-bavg B (S = 1 - (B - B_hb)/B_lb).',
    });
  }
  if (targetSparsity === 'none') return undefined;
  if (targetSparsity !== undefined) {
    if (!(targetSparsity >= 0 && targetSparsity <= 1)) {
      throw new UsageError(`--target-sparsity ${targetSparsity} is outside [0, 1].`, { action: 'Use e.g. --target-sparsity 0.85.' });
    }
    return targetSparsity;
  }
  if (targetBavg === undefined) return undefined;
  const gated = layers.filter((l) => l.gated);
  const kinds = new Set(gated.map((l) => `${l.bits}/${l.hbits}`));
  if (kinds.size !== 1) {
    throw new UsageError(`--target-bavg needs one bitwidth for all gated layers; this model has ${[...kinds].join(', ') || 'none'} (bits/hbits).`, {
      action: 'Use --target-sparsity instead.',
    });
  }
  const bits = gated[0].bits;
  const hbits = gated[0].hbits!;
  if (!(targetBavg >= hbits && targetBavg <= bits)) {
    throw new UsageError(`--target-bavg ${targetBavg} is outside [${hbits}, ${bits}], the range of B_avg for this model's ${bits}/${hbits}-bit gated layers.`, {
      action: `Give a B_avg between B_hb = ${hbits} (every update skipped) and B = ${bits} (none skipped).`,
    });
  }
  // Clamp the rounding of e.g. 1 - (2.6 - 2)/2 to stay within [0, 1].
  return Math.min(1, Math.max(0, 1 - (targetBavg - hbits) / (bits - hbits)));
}
