// @pg/core: the library API (docs/library.md), what the CLI, the exporters and other programs use. Everything
// else is @pg/core/internal (internal.ts), for core's tests and the benches.

// Errors: every failure is a PgError subclass with a stable code, an exit code and an action.
export {
  PgError,
  UsageError,
  InvalidModelError,
  UnsupportedModelError,
  InvalidDataError,
  FileAccessError,
  TrainingError,
  InterruptedError,
  ShardError,
  isPgError,
} from './errors/index.js';

// The model IR.
export {
  constTensor,
  numElements,
  onnxOpset,
  inlineFunctions,
  type Model,
  type Graph,
  type Node,
  type ValueInfo,
  type Dim,
  type AttributeValue,
  type FunctionDef,
  type ConstTensor,
  type DataType,
  type TensorData,
} from './graph/index.js';

// Files: ONNX models, atomic writes.
export { readModel, writeModel, checkFiniteWeights, type WriteModelOptions, type WriteModelResult } from './onnx/index.js';
export { readFileBytes, writeFileAtomic, writeFilesAtomic, type FileData, type FileToWrite } from './io/index.js';

// Shards: one run's work split over machines, and the files that merge back into the unsharded result.
export { checkShard, checkShardSet, readShardJson, shardLabel, shardStamp, type ShardFile, type ShardSpec, type ShardStamp } from './io/index.js';

// Data sets.
export {
  openDataset,
  checkDatasetFits,
  datasetForInput,
  checkTokenIds,
  tokenVocabulary,
  resolvePreprocess,
  readPreprocessKey,
  withPreprocess,
  ImageDataset,
  type Dataset,
  type Batch,
  type OpenDatasetOptions,
  type ResolvedPreprocess,
  shardRange,
  dataSlice,
  type SampleRange,
} from './data/index.js';

// Running models on TensorFlow.js.
export {
  initBackend,
  activeBackend,
  BACKENDS,
  Executor,
  toTfTensor,
  convGeometry,
  attrFloat,
  attrInt,
  nativeUnavailableReason,
  nativeThreads,
  setNativeThreads,
  withNativeThreads,
  type BackendName,
} from './interpreter/index.js';

// Precision Gating: the gated-model format and convert.
export {
  convertModel,
  validateBits,
  FIRST_LAYER_BITS_DEFAULT,
  pgLayers,
  gateKind,
  actScaleMode,
  isPgNode,
  functionsFor,
  opRegistry,
  PG_DOMAIN,
  INTEGER_ACCUMULATION_VERSION,
  CONVERSION_MODES,
  conversionMode,
  RECURRENT_GATE_RULES,
  refuseRecurrentExport,
  refuseRecurrentFunctionExport,
  DEFAULT_RECURRENT_GATE_RULE,
  type RecurrentGateRule,
  type ConversionMode,
  type ConvertOptions,
  type ConvertResult,
  type LayerDecision,
  type GateKind,
  type PgLayer,
  type ActScaleMode,
} from './gating/index.js';

// Fine-tuning and calibration.
export {
  finetune,
  calibrateActScales,
  FINETUNE_DEFAULTS,
  DEFAULT_TARGET_SPARSITY,
  checkpointPathFor,
  readCheckpoint,
  writeCheckpoint,
  type FinetuneOptions,
  type FinetuneHooks,
  type FinetuneOutput,
  type FinetuneProgress,
  type FinetuneResult,
  type FinetuneCheckpoint,
  type CalibrationOptions,
} from './train/index.js';

// Measuring: the report, CI gates, per-layer sensitivity.
export {
  reportModel,
  measureReport,
  reportFromCounts,
  reportFacts,
  mergeReportShards,
  parseGate,
  checkGates,
  gateCostModel,
  layerSensitivity,
  GATE_FIELDS,
  COST_GATE_FIELDS,
  type ReportOptions,
  type ReportResult,
  type LayerReport,
  type WholeModel,
  type OtherOpCount,
  type CostReport,
  type Gate,
  type GateCheck,
  type SensitivityOptions,
  type LayerSensitivity,
  type ReportCounts,
  type ReportFacts,
  type LayerFacts,
  type ReportShard,
  type MergedReport,
} from './metrics/index.js';

// pg inspect, pg run, pg sweep.
export { inspectModel, type InspectOptions, type InspectResult, type InspectLayer, type TensorSummary } from './inspect/index.js';
export {
  runModel,
  runModelOnFiles,
  parseInputSpec,
  RUN_ENGINES,
  type RunModelOptions,
  type ModelRun,
  type HostTensor,
  type RunEngineName,
  type RunFilesOptions,
  type RunResult,
  type InputSpec,
} from './engines/index.js';
export {
  runSweep,
  paretoFrontier,
  mergeSweepShards,
  planSweepShards,
  sweepEstimates,
  sweepShardFile,
  type SweepOptions,
  type SweepHooks,
  type SweepEvent,
  type SweepResult,
  type SweepPoint,
  type SweepShardPlan,
  type MergedSweep,
} from './sweep/index.js';
