import { Flags } from '@oclif/core';
import { COST_MODELS } from '@pg/exporters';
import { inHelpGroup } from './flags.js';

/** Device cost models: `pg report` prices the model on them, `pg sweep` every point. */
export const costFlags = inHelpGroup('COST', {
  cost: Flags.string({
    helpValue: 'all|NAME[,NAME]',
    summary: `Price the network on device cost models: all, or some of ${[...COST_MODELS.keys()].join(', ')}.`,
    description:
      'Each reports BitOps or cycles per sample, per layer, and the ratios to the same network statically quantized at B and at 8 bits and to a SeerNet-style predictor (docs/cost-models.md).',
  }),
  profile: Flags.string({
    multiple: true,
    multipleNonGreedy: true,
    helpValue: 'FILE',
    summary: 'A device profile (JSON) replacing the bundled one of its model, and selecting that model; repeatable.',
    description: 'Copy one of packages/exporters/profiles/*.json and edit its parameters; an invalid file is refused naming the field.',
  }),
});
