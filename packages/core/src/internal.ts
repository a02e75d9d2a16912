// @pg/core/internal: every folder's public surface, for core's own tests and pg's benches. Programs use the
// library API in index.ts (docs/library.md); this entry may change with any commit.
export * from './errors/index.js';
export * from './graph/index.js';
export * from './io/index.js';
export * from './onnx/index.js';
export * from './data/index.js';
export * from './interpreter/index.js';
export * from './gating/index.js';
export * from './train/index.js';
export * from './metrics/index.js';
export * from './inspect/index.js';
export * from './engines/index.js';
export * from './sweep/index.js';
