import { InvalidDataError, InvalidModelError, PgError, UnsupportedModelError } from '../errors/pg-error.js';
import type { ExternalTensor } from './external-data.js';

/** What a decoder needs to know about the file it reads, to place errors and resolve external data. */
export interface DecodeContext {
  /** The file being read as the caller named it, or '<memory>'; every message starts with it. */
  file: string;
  /** Folder that external data locations are relative to; undefined when decoding bytes without a path. */
  baseDir?: string;
  /** A model reports malformed input as InvalidModelError, a tensor (test data) file as InvalidDataError. */
  kind: 'model' | 'data';
  /** External tensors met while decoding, so readModel can check their files once, up front. */
  externals: ExternalTensor[];
}

export const REEXPORT_ACTION = 'Re-export the model, or check it with onnx.checker.check_model to find the fault.';

export function invalid(ctx: Pick<DecodeContext, 'file' | 'kind'>, message: string, action = REEXPORT_ACTION): PgError {
  const text = `${ctx.file}: ${message}`;
  return ctx.kind === 'model' ? new InvalidModelError(text, { action }) : new InvalidDataError(text, { action });
}

export function unsupported(ctx: Pick<DecodeContext, 'file'>, message: string, action: string): UnsupportedModelError {
  return new UnsupportedModelError(`${ctx.file}: ${message}`, { action });
}

/** "node 'conv1' (Conv)", or "node #3 (Conv)" for unnamed nodes, for messages. */
export function describeNode(node: { name?: string | null; opType?: string | null }, index: number): string {
  return node.name ? `node '${node.name}' (${node.opType ?? '?'})` : `node #${index} (${node.opType ?? '?'})`;
}
