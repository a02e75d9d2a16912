export * from './tensor.js';
export * from './ir.js';
export { validateGraph } from './validate.js';
