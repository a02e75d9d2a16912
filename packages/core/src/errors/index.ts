export * from './pg-error.js';
