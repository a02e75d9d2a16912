// Exporters turn a gated model into other deployment forms. Export backends live in backends/ (one module
// each, registered by name); cost models may live next to them.
export * from './backends/index.js';
