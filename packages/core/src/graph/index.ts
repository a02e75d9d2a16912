export * from './tensor.js';
export * from './ir.js';
