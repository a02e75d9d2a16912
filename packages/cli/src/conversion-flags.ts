import { Flags } from '@oclif/core';
import { FIRST_LAYER_BITS_DEFAULT } from '@pg/core';
import { firstLayerBitsFlag, inHelpGroup, nameListFlag, numberFlag } from './flags.js';

/** The precision of a gated model: `pg convert`, and every point of `pg sweep` (whose --bits and --hbits are lists). */
export const bitsFlags = inHelpGroup('PRECISION', {
  bits: numberFlag({ integer: true })({ default: 4, helpValue: 'B', summary: 'Activation bits B of gated and quantized layers (2-16).' }),
  hbits: numberFlag({ integer: true })({ default: 2, helpValue: 'H', summary: 'High bits B_hb used for the prediction (1 to B-1).' }),
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
  include: nameListFlag({ helpValue: 'NODE', summary: 'Gate these Conv/Gemm nodes too (by node name; repeat or comma-separate).' }),
  exclude: nameListFlag({ helpValue: 'NODE', summary: 'Leave these Conv/Gemm nodes float (by node name; repeat or comma-separate).' }),
  'gate-depthwise': Flags.boolean({ default: false, summary: 'Gate depthwise convolutions too (quantized, not gated, by default).' }),
});
