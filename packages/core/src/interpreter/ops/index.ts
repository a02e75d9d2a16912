import type { OpDeclaration } from '../op-declaration.js';
import { CONV_OPS } from './conv.js';
import { ELEMENTWISE_OPS } from './elementwise.js';
import { GENERATOR_OPS } from './generator.js';
import { MATMUL_OPS } from './linear.js';
import { NORMALIZATION_OPS } from './normalization.js';
import { PAD_OPS } from './pad.js';
import { POOL_OPS } from './pool.js';
import { RECURRENT_OPS } from './recurrent.js';
import { REDUCE_OPS } from './reduce.js';
import { SHAPE_OPS } from './shape.js';
import { SLICE_OPS } from './slice.js';

/** The standard ONNX ops the interpreter implements: every op family's declarations, in one list. */
export const ONNX_OPS: readonly OpDeclaration[] = [
  ...CONV_OPS,
  ...ELEMENTWISE_OPS,
  ...GENERATOR_OPS,
  ...MATMUL_OPS,
  ...NORMALIZATION_OPS,
  ...PAD_OPS,
  ...POOL_OPS,
  ...RECURRENT_OPS,
  ...REDUCE_OPS,
  ...SHAPE_OPS,
  ...SLICE_OPS,
];
