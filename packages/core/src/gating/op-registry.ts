import { ONNX_OPS } from '../interpreter/ops/index.js';
import { OpRegistry } from '../interpreter/registry.js';
import { PG_OPS } from './kernels.js';
import { PG_RECURRENT_OPS } from './recurrent-kernels.js';

/**
 * The composition root of pg's ops: the one registry that every executor, support check, opset upgrade,
 * cost count and export in pg uses, built from the interpreter's standard ONNX ops and pg's layers. Nothing
 * registers itself on import; a form declared twice fails here, naming it.
 */
export const opRegistry = new OpRegistry([...ONNX_OPS, ...PG_OPS, ...PG_RECURRENT_OPS]);
