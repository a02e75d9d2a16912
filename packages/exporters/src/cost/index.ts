export { COST_MODELS, costReport, selectProfiles, type CostedNetwork } from './registry.js';
export { reportPricing, wholeModel, type ReportPricing } from './whole-model.js';
export { readProfile, validateProfile, bundledProfilePath, type Profile } from './profile.js';
export type { CostModel, ParameterSpec, Parameters } from './cost-model.js';
export { passes, layerWork, bitWidth, type Pass, type Scheme, type LayerWork, type Precision } from './work.js';
