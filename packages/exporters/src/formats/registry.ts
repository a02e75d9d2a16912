import { UsageError } from '@pg/core';
import type { ExportBackend } from './backend.js';

/**
 * The export backends by name (the pattern of onnxruntime-common's backend registry: modules register
 * themselves, callers resolve a name). A later registration under the same name replaces the earlier
 * one, so a user of the library can swap in their own implementation.
 */
const backends = new Map<string, ExportBackend>();

export function registerExportBackend(backend: ExportBackend): void {
  backends.set(backend.name, backend);
}

/** The backend registered under `name`; a UsageError listing the known names otherwise. */
export function exportBackend(name: string): ExportBackend {
  const b = backends.get(name);
  if (!b) {
    throw new UsageError(`Unknown export backend '${name}'.`, { action: `Use one of: ${exportBackendNames().join(', ')}.` });
  }
  return b;
}

export function exportBackendNames(): string[] {
  return [...backends.keys()];
}

export function exportBackends(): ExportBackend[] {
  return [...backends.values()];
}
