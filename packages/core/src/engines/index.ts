export type { HostTensor, RunEngine, RunEngineName, RunSession } from './engine.js';
export { castHostTensor, hostDtypeOf } from './host-tensor.js';
export { bindInputs, feedInputs, formatShape, parseInputSpec, prepareFeed, type InputSpec } from './feeds.js';
export { RUN_ENGINES, isRunEngineName, runEngine } from './registry.js';
export { InterpreterEngine } from './interpreter-engine.js';
export { OnnxRuntimeEngine } from './onnxruntime-engine.js';
export { runModel, runPrepared, selectOutputs, type ModelRun, type RunModelOptions } from './run-model.js';
export { npyFileName, runModelOnFiles, type RunFilesOptions, type RunInputJson, type RunResult, type RunTensorJson } from './run-files.js';
