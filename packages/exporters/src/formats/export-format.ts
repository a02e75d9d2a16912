import type { Model } from '@pg/core';

/** Where an export writes. */
export interface ExportOptions {
  /** The main output file; a format that writes more files puts them next to it (named after it). */
  output: string;
}

/** What a file of an export holds. */
export type ExportFileRole = 'model' | 'external-data' | 'description' | 'tensors';

/** A file an export writes, known before it runs. */
export interface ExportFileSpec {
  path: string;
  role: ExportFileRole;
}

/** A file an export wrote. */
export interface ExportedFile extends ExportFileSpec {
  bytes: number;
}

export interface ExportResult {
  /** The format's name. */
  format: string;
  /** In the order written; all of them were replaced together (atomically). */
  files: ExportedFile[];
  /** What the export did that a user should know (e.g. functions inlined, layers described as float). */
  notes: string[];
}

/**
 * A deployment form of a gated model. The built-in formats are listed in the export registry
 * (index.ts); `pg export --format NAME` looks them up there, so adding a form adds a module and a
 * registry line, not a branch in the command.
 */
export interface ExportFormat {
  /** The name users pass to `pg export --format`. */
  readonly name: string;
  /** One line for `pg export --help` and docs. */
  readonly description: string;
  /**
   * Every file the export may write for `output`, in the order it writes them, with paths derived from
   * `output` as given (not resolved): callers check them before any work (e.g. that none is the input
   * model), and `pg export --help` lists them.
   */
  files(output: string): ExportFileSpec[];
  export(model: Model, options: ExportOptions): Promise<ExportResult>;
}
