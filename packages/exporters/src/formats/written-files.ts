import { stat } from 'node:fs/promises';
import type { ExportedFile } from './backend.js';

/** Describes files just written, with their sizes on disk. */
export async function writtenFiles(files: { path: string; role: string }[]): Promise<ExportedFile[]> {
  return Promise.all(files.map(async (f) => ({ ...f, bytes: (await stat(f.path)).size })));
}
