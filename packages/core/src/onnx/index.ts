// ONNX model and tensor file I/O: protobuf <-> pg IR (graph/ir.ts).
export { readModel, decodeModel, MAX_IR_VERSION, MAX_OPSET } from './read-model.js';
export { writeModel, encodeModel, EXTERNAL_DATA_ALIGNMENT, type WriteModelOptions, type WriteModelResult } from './write-model.js';
export { readTensorFile, decodeTensorFile, encodeTensorFile, writeTensorFile } from './tensor-file.js';
export { halfBitsToFloat, floatToHalfBits, widenFloat16, narrowToFloat16 } from './float16.js';
export { checkFiniteWeights } from './finite-weights.js';
