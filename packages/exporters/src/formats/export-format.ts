import type { Model } from '@pg/core';

/** Where and how a backend writes its files. */
export interface ExportOptions {
  /** The main output file; a backend that writes more files puts them next to it (named after it). */
  output: string;
}

/** A file an export wrote. */
export interface ExportedFile {
  path: string;
  /** What the file holds, e.g. 'model', 'external-data', 'description', 'weights'. */
  role: string;
  bytes: number;
}

export interface ExportResult {
  backend: string;
  /** In the order written; all of them were replaced together (atomically). */
  files: ExportedFile[];
  /** What the export did that a user should know (e.g. functions inlined, layers described as float). */
  notes: string[];
}

/**
 * A deployment form of a gated model. Backends register themselves in the export registry
 * (registry.ts); `pg export --backend NAME` looks them up there, so adding a form adds a module, not
 * a branch in the command.
 */
export interface ExportBackend {
  /** The name users pass to `pg export --backend`. */
  readonly name: string;
  /** One line for `pg export --help` and docs. */
  readonly description: string;
  export(model: Model, options: ExportOptions): Promise<ExportResult>;
}
