export * from './tensor.js';
export * from './ir.js';
export { inlineFunctions } from './passes/inline-functions.js';
