export { COST_MODELS, costReport, selectProfiles } from './registry.js';
export { readProfile, validateProfile, bundledProfilePath, type Profile } from './profile.js';
export type { CostModel, ParameterSpec, Parameters } from './cost-model.js';
export { passes, layerWork, type Pass, type Scheme, type LayerWork, type Precision } from './work.js';
