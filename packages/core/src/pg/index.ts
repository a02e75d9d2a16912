import './kernels.js';

export * from './format.js';
export * from './quantizer.js';
export * from './gate.js';
export { releaseFusedState } from './fused-conv.js';
export { steClipRound, steTrunc, stopGradient } from './ste.js';
export * from './placement.js';
export * from './convert.js';
export * from './functions.js';
export * from './model-functions.js';
export * from './layers.js';
export { OBSERVE, SETTINGS } from './kernels.js';
export * from './float-twin.js';
