import { RUNTIME_OPS } from '../runtime/ops/index.js';
import { OpRegistry } from '../runtime/registry.js';
import { PG_OPS } from './kernels.js';
import { PG_RECURRENT_OPS } from './recurrent-kernels.js';

/**
 * The composition root of pg's ops: the one registry that every executor, support check, opset upgrade,
 * cost count and export in pg uses, built from the runtime's standard ONNX ops and pg's layers. Nothing
 * registers itself on import; a form declared twice fails here, naming it.
 */
export const opRegistry = new OpRegistry([...RUNTIME_OPS, ...PG_OPS, ...PG_RECURRENT_OPS]);
