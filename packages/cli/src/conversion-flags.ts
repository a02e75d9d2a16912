import { Flags } from '@oclif/core';
import { CONVERSION_MODES, FIRST_LAYER_BITS_DEFAULT, UsageError, type ConversionMode } from '@pg/core';
import { firstLayerBitsFlag, inHelpGroup, nameListFlag, numberFlag } from './flags.js';

/** B_hb when --hbits is not given (pg and seernet modes). */
export const HBITS_DEFAULT = 2;

/**
 * The prediction bits a mode uses: --hbits or its default; --mode static has no prediction, so an --hbits given
 * with it is a usage error rather than a value silently ignored.
 */
export function hbitsFor(mode: ConversionMode, hbits: number | undefined): number {
  if (mode === 'static' && hbits !== undefined) {
    throw new UsageError('--hbits has no meaning with --mode static: a static layer has no prediction', { action: 'leave out --hbits, or use --mode pg or seernet' });
  }
  return hbits ?? HBITS_DEFAULT;
}

/** The precision of a gated model: `pg convert`, and every point of `pg sweep` (whose --bits and --hbits are lists). */
export const bitsFlags = inHelpGroup('PRECISION', {
  mode: Flags.option({ options: CONVERSION_MODES, default: 'pg' as const })({
    summary:
      'What the layers PG would gate become: pg (gated), static (quantized at B bits, no gate: uniform quantization), seernet (predicted from B_hb bits, recomputed at B where the gate passes, zero elsewhere).',
  }),
  bits: numberFlag({ integer: true })({ default: 4, helpValue: 'B', summary: 'Activation bits B of gated and quantized layers (2-16).' }),
  hbits: numberFlag({ integer: true })({ helpValue: 'H', summary: `High bits B_hb used for the prediction (1 to B-1; default ${HBITS_DEFAULT}; not with --mode static).` }),
  wbits: numberFlag({ integer: true })({ default: 8, helpValue: 'W', summary: 'Weight bits (2-32; 32 keeps weights float).' }),
  'act-scale': Flags.option({ options: ['static', 'dynamic'] as const, default: 'static' as const })({
    summary: 'Activation scale: static (calibrated, for integer hardware) or dynamic (per-sample max, the paper).',
  }),
  'first-layer-bits': firstLayerBitsFlag({
    default: FIRST_LAYER_BITS_DEFAULT,
    summary: "The first layer's bits (activations and weights, 2-16), so the whole path to every gate is integer-exact; 'float' keeps it float as the method does.",
  }),
});

/** Which layers get gated: `pg convert`, and `pg inspect`'s preview of it. */
export const placementFlags = inHelpGroup('PLACEMENT', {
  include: nameListFlag({
    helpValue: 'NODE',
    summary: 'Gate these layers too: Conv/Gemm nodes, or the MatMul of a linear layer on tokens (by node name; repeat or comma-separate).',
  }),
  exclude: nameListFlag({
    helpValue: 'NODE',
    summary: 'Leave these layers float: Conv/Gemm nodes, or the MatMul of a linear layer on tokens (by node name; repeat or comma-separate).',
  }),
  'gate-depthwise': Flags.boolean({ default: false, summary: 'Gate depthwise convolutions too (quantized, not gated, by default).' }),
  'gate-residual': Flags.boolean({
    allowNo: true,
    summary:
      "Gate a layer whose output enters a residual Add feeding a ReLU on the sum (the Add's other operand joins the gate). On by default with --mode pg; --no-gate-residual quantizes those layers statically.",
  }),
});
