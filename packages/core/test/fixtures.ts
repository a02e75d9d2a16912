import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { skipNote } from './support/skip.js';

/** Paths of the committed fixtures (repo-relative to this file). */
export const FIXTURES = fileURLToPath(new URL('../../../fixtures/', import.meta.url));
export const fixtureModel = (name: string) => `${FIXTURES}models/${name}.onnx`;
export const hasFixture = (name: string) => existsSync(fixtureModel(name));
/** For a title: why a test of this fixture skips (see skipNote). */
export const fixtureSkipNote = (name: string) => skipNote(hasFixture(name), `no fixture ${fixtureModel(name)}: regenerate with fixtures/make_fixtures.py`);

export interface Expected {
  logits: number[][];
  labels: number[];
  float_test_accuracy: number;
  /** make_user_models.py's BN fixtures: BatchNormalization nodes in the file, and channels with a negative scale. */
  batch_normalization_nodes?: number;
  negative_bn_scales?: number;
}

export function expectedOutputs(name: string): Expected {
  return JSON.parse(readFileSync(`${FIXTURES}models/${name}.expected.json`, 'utf8')) as Expected;
}

/** The fixture models' preprocessing (recorded in their metadata too). */
export const FMNIST_NORM = { mean: [0.286], std: [0.353] };
