// Exporters turn a gated model into other deployment forms and price it on hardware (cost/: one device
// model per file, parameters in profiles/*.json). Layering: cli -> exporters -> core.
export * from './cost/index.js';
