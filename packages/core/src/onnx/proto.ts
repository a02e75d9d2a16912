// onnx-proto is CommonJS (`module.exports = $root`), so ESM code can only take its default export.
import pkg from 'onnx-proto';

/** The protobufjs classes of the ONNX schema (onnx-proto ships the ONNX 1.10 / IR v8 schema). */
export const onnx = pkg.onnx;

// Types are imported per file with `import type { onnx as P } from 'onnx-proto'`.
