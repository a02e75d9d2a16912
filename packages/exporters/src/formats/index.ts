import { registerExportBackend } from './registry.js';
import { onnxBackend } from './onnx.js';
import { onnxPgBackend } from './onnx-pg.js';
import { hwJsonBackend } from './hw-json/hw-json.js';

export type { ExportBackend, ExportOptions, ExportResult, ExportedFile } from './backend.js';
export { registerExportBackend, exportBackend, exportBackendNames, exportBackends } from './registry.js';
export { onnxBackend, toStandardOnnx, MIN_STANDARD_OPSET, type StandardOnnx } from './onnx.js';
export { onnxPgBackend } from './onnx-pg.js';
export { hwJsonBackend, describeForHardware, tensorFilePath } from './hw-json/hw-json.js';
export * from './hw-json/format.js';

// The built-in backends, in the order `pg export --help` lists them.
registerExportBackend(onnxBackend);
registerExportBackend(onnxPgBackend);
registerExportBackend(hwJsonBackend);
