/**
 * The one error family of pg. Core code throws these; only the CLI turns them into messages and exit codes.
 * Each subclass is one kind of failure with a stable `code` (for scripts) and a documented `exitCode`.
 */
export abstract class PgError extends Error {
  abstract readonly code: string;
  abstract readonly exitCode: number;
  /** What the user can do about it, printed after the message. */
  readonly action?: string;

  constructor(message: string, options: { action?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.action = options.action;
  }
}

/** A flag or argument is invalid, or flags contradict each other. */
export class UsageError extends PgError {
  readonly code = 'PG_USAGE';
  readonly exitCode = 2;
}

/** A model file cannot be read as a valid ONNX model (not protobuf, truncated, inconsistent graph...). */
export class InvalidModelError extends PgError {
  readonly code = 'PG_INVALID_MODEL';
  readonly exitCode = 3;
}

/** The model is valid ONNX but uses an operator, opset or attribute pg cannot run. */
export class UnsupportedModelError extends PgError {
  readonly code = 'PG_UNSUPPORTED';
  readonly exitCode = 4;
}

/** A data set cannot be read or does not fit the model (shape, dtype, labels). */
export class InvalidDataError extends PgError {
  readonly code = 'PG_INVALID_DATA';
  readonly exitCode = 5;
}

/** A file cannot be read or written (missing, permissions, disk full). */
export class FileAccessError extends PgError {
  readonly code = 'PG_FILE_ACCESS';
  readonly exitCode = 6;
}

/** Training produced non-finite values or could not proceed. */
export class TrainingError extends PgError {
  readonly code = 'PG_TRAINING';
  readonly exitCode = 7;
}

/**
 * Shard files that do not make one result: from different models, data, flags or pg versions, a shard given
 * twice or missing, or a file that is not a complete shard file (truncated, corrupt, from a shard still running).
 */
export class ShardError extends PgError {
  readonly code = 'PG_SHARDS';
  readonly exitCode = 8;
}

/** A run was interrupted (SIGINT/SIGTERM); a checkpoint may have been saved. */
export class InterruptedError extends PgError {
  readonly code = 'PG_INTERRUPTED';
  readonly exitCode = 130;
}

export function isPgError(e: unknown): e is PgError {
  return e instanceof PgError;
}
