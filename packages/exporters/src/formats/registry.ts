import { UsageError } from '@pg/core';
import type { ExportFormat } from './export-format.js';

/**
 * The export formats by name (the pattern of onnxruntime-common's backend registry: formats are
 * registered, callers resolve a name). A later registration under the same name replaces the earlier
 * one, so a user of the library can swap in their own implementation.
 */
const formats = new Map<string, ExportFormat>();

export function registerExportFormat(format: ExportFormat): void {
  formats.set(format.name, format);
}

/** The format registered under `name`; a UsageError listing the known names otherwise. */
export function exportFormat(name: string): ExportFormat {
  const f = formats.get(name);
  if (!f) {
    throw new UsageError(`Unknown export format '${name}'.`, { action: `Use one of: ${exportFormatNames().join(', ')}.` });
  }
  return f;
}

export function exportFormatNames(): string[] {
  return [...formats.keys()];
}

export function exportFormats(): ExportFormat[] {
  return [...formats.values()];
}
