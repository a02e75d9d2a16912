import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core registers no gradients itself, and its ESM gradient files use extensionless imports that
// Node's ESM loader rejects; the union package's CommonJS bundle registers them all on the same core.
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { UsageError } from '../errors/index.js';
import { enableNativeConv } from './native/enable.js';
import { shareWasmClones } from './wasm-identity.js';

export type BackendName = 'wasm' | 'cpu' | 'node';
export const BACKENDS: readonly BackendName[] = ['wasm', 'cpu', 'node'];

let active: BackendName | undefined;

/**
 * Selects the TensorFlow.js backend once per process. wasm is the default (fast, installs everywhere);
 * cpu is a slow fallback; node (tfjs-node) is used only when the user installed it and it loads.
 * The wasm binaries are loaded from the installed package: nothing is fetched at run time.
 */
export async function initBackend(name: BackendName = 'wasm'): Promise<BackendName> {
  if (active === name) return name;
  // PROD skips per-op debug checks and silences tfjs's advice to install tfjs-node on every run.
  tf.env().set('PROD', true);
  if (name === 'node') {
    try {
      const mod = '@tensorflow/tfjs-node';
      await import(mod);
    } catch (e) {
      throw new UsageError(`backend 'node' is not available: @tensorflow/tfjs-node did not load (${(e as Error).message.split('\n')[0]})`, {
        action: 'install @tensorflow/tfjs-node with its native binary, or use --backend wasm (the default)',
      });
    }
  } else if (name === 'wasm') {
    const require = createRequire(import.meta.url);
    const pkg = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
    setWasmPaths(join(pkg, 'dist') + '/');
  } else if (name !== 'cpu') {
    throw new UsageError(`unknown backend '${String(name)}'`, { action: `use one of ${BACKENDS.join(', ')}` });
  }
  const tfName = name === 'node' ? 'tensorflow' : name;
  const ok = await tf.setBackend(tfName);
  if (!ok) throw new UsageError(`backend '${name}' failed to initialise`, { action: 'use --backend cpu' });
  await tf.ready();
  // oneDNN convolutions (packages/native-kernels) replace the wasm backend's when built; PG_NATIVE=0 keeps pure wasm.
  if (name === 'wasm') {
    shareWasmClones();
    enableNativeConv();
  }
  active = name;
  return name;
}

export function activeBackend(): BackendName | undefined {
  return active;
}
