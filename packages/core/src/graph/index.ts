export * from './tensor.js';
export * from './ir.js';
export * from './op-versions.js';
export { validateGraph } from './validate.js';
export { inlineFunctions } from './passes/inline-functions.js';
