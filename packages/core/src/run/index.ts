export type { HostTensor, RunBackend, RunBackendName, RunSession } from './backend.js';
export { castHostTensor, hostDtypeOf } from './host-tensor.js';
export { bindInputs, feedInputs, formatShape, parseInputSpec, prepareFeed, type InputSpec } from './feeds.js';
export { RUN_BACKENDS, isRunBackendName, runBackend } from './registry.js';
export { TfjsRunBackend } from './tfjs-backend.js';
export { OnnxRuntimeBackend } from './onnxruntime-backend.js';
export { runModel, runPrepared, selectOutputs, type ModelRun, type RunModelOptions } from './run-model.js';
export { npyFileName, runModelOnFiles, type RunFilesOptions, type RunInputJson, type RunResult, type RunTensorJson } from './run-files.js';
