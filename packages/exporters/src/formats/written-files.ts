import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { WriteModelResult } from '@pg/core';
import type { ExportedFile, ExportFileSpec } from './export-format.js';

/** Describes files just written: absolute paths, with their sizes on disk. */
export async function writtenFiles(files: ExportFileSpec[]): Promise<ExportedFile[]> {
  return Promise.all(
    files.map(async (f) => {
      const path = resolve(f.path);
      return { path, role: f.role, bytes: (await stat(path)).size };
    }),
  );
}

/**
 * The files an ONNX format writes with core's writeModel: the model and, when the model keeps external
 * tensor data, `<model file>.data` next to it (writeModel's naming), data first as writeModel writes them.
 */
export function onnxModelFiles(output: string): ExportFileSpec[] {
  return [
    { path: `${output}.data`, role: 'external-data' },
    { path: output, role: 'model' },
  ];
}

/** What writeModel wrote, described as export files. */
export function writtenModelFiles(written: WriteModelResult): Promise<ExportedFile[]> {
  const files: ExportFileSpec[] = [{ path: written.modelPath, role: 'model' }];
  if (written.dataPath) files.unshift({ path: written.dataPath, role: 'external-data' });
  return writtenFiles(files);
}
