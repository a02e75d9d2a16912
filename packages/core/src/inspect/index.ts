export * from './types.js';
export { inspectModel, isCostLayer, opCounts, type InspectOptions } from './inspect.js';
