export * from './tensor.js';
export * from './ir.js';
export { dataTypeFromOnnx, dataTypeToOnnx, onnxTypeName, storageBytes } from './dtype.js';
export * from './op-versions.js';
export { validateGraph } from './validate.js';
export { consumersOf, producersOf } from './edges.js';
export { constantValue } from './constants.js';
export { inlineFunctions } from './passes/inline-functions.js';
export { foldBatchNormalization, type BatchNormFold, type BatchNormKept, type FoldBatchNormResult } from './passes/fold-batchnorm.js';
