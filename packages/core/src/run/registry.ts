import { UsageError } from '../errors/index.js';
import type { RunBackend, RunBackendName } from './backend.js';
import { OnnxRuntimeBackend } from './onnxruntime-backend.js';
import { TfjsRunBackend } from './tfjs-backend.js';

/** Run backends by name, in the order `pg run --help` lists them; the first is the default. */
const FACTORIES: Record<RunBackendName, () => RunBackend> = {
  wasm: () => new TfjsRunBackend('wasm'),
  cpu: () => new TfjsRunBackend('cpu'),
  node: () => new TfjsRunBackend('node'),
  onnxruntime: () => new OnnxRuntimeBackend(),
};

export const RUN_BACKENDS = Object.keys(FACTORIES) as readonly RunBackendName[];

export function isRunBackendName(name: string): name is RunBackendName {
  return Object.hasOwn(FACTORIES, name);
}

/** The run backend called `name`; a usage error for an unknown name. */
export function runBackend(name: string): RunBackend {
  if (!isRunBackendName(name)) {
    throw new UsageError(`unknown backend '${name}'`, { action: `Use one of ${RUN_BACKENDS.join(', ')}.` });
  }
  return FACTORIES[name]();
}
