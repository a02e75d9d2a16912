// Exporters turn a gated model into other deployment forms and price it on hardware. Export formats live in
// formats/ (one module each, registered by name); cost models in cost/ (one device model per file, parameters
// in profiles/*.json). Layering: cli -> exporters -> core.
export * from './formats/index.js';
export * from './cost/index.js';
