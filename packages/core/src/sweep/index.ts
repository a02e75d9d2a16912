export { paretoFrontier } from './pareto.js';
