import { UsageError } from '../errors/index.js';
import type { RunEngine, RunEngineName } from './engine.js';
import { OnnxRuntimeEngine } from './onnxruntime-engine.js';
import { InterpreterEngine } from './interpreter-engine.js';

/** Run engines by name; the first is the default. */
const FACTORIES: Record<RunEngineName, () => RunEngine> = {
  wasm: () => new InterpreterEngine('wasm'),
  cpu: () => new InterpreterEngine('cpu'),
  node: () => new InterpreterEngine('node'),
  onnxruntime: () => new OnnxRuntimeEngine(),
};

export const RUN_ENGINES = Object.keys(FACTORIES) as readonly RunEngineName[];

export function isRunEngineName(name: string): name is RunEngineName {
  return Object.hasOwn(FACTORIES, name);
}

/** The run engine called `name`; a usage error for an unknown name. */
export function runEngine(name: string): RunEngine {
  if (!isRunEngineName(name)) {
    throw new UsageError(`unknown run engine '${name}'`, { action: `Use one of ${RUN_ENGINES.join(', ')}.` });
  }
  return FACTORIES[name]();
}
