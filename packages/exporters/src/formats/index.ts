import { registerExportFormat } from './registry.js';
import { onnxFormat } from './onnx.js';
import { onnxPgFormat } from './onnx-pg.js';
import { hwJsonFormat } from './hw-json/hw-json.js';

export type { ExportFileRole, ExportFileSpec, ExportFormat, ExportOptions, ExportResult, ExportedFile } from './export-format.js';
export { registerExportFormat, exportFormat, exportFormatNames, exportFormats } from './registry.js';
export { toStandardOnnx, MIN_STANDARD_OPSET, type StandardOnnx } from './onnx.js';
export { describeForHardware, tensorFilePath } from './hw-json/hw-json.js';
export * from './hw-json/format.js';

// The built-in formats, one line each, in the order `pg export --help` lists them. A format reached by
// name needs nothing more: callers use exportFormat(name).
for (const format of [onnxFormat, onnxPgFormat, hwJsonFormat]) registerExportFormat(format);
