export * from './tensor.js';
export * from './ir.js';
export { dataTypeFromOnnx, dataTypeToOnnx, onnxTypeName, storageBytes } from './dtype.js';
export * from './op-versions.js';
export { validateGraph } from './validate.js';
export { inlineFunctions } from './passes/inline-functions.js';
