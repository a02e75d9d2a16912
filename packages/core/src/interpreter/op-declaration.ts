import type { OpVersion } from '../graph/op-versions.js';
import type { Kernel } from './kernel.js';

/**
 * How a node's arithmetic is counted per sample (metrics/other-ops.ts, docs/cost-models.md "Other ops"):
 * - `layer`: a Conv/Gemm-like layer, priced by its MACs (metrics/layer-cost.ts), 0 here;
 * - `movement`: moves, reshapes or describes data, 0;
 * - `elementwise`: 1 per output element;
 * - `variadic`: inputs − 1 per output element (Sum, Max...);
 * - `window`: k_h·k_w per output element (windowed pooling);
 * - `reduction`: 1 per input element;
 * - `normalization`: 2 per output element (a scale and a shift);
 * - `softmax`: 3 per output element (exp, sum, divide);
 * - `matmul`: K per output element.
 */
export type CostClass = 'layer' | 'movement' | 'elementwise' | 'variadic' | 'window' | 'reduction' | 'normalization' | 'softmax' | 'matmul';

/**
 * One form of one op, and everything pg knows of it: the kernel that runs it, from which opset, how it is
 * costed, and how a node of the previous form is rewritten into it. An op whose meaning or form changed
 * across opsets has one declaration per form (as ONNX's reference evaluator has `Clip_6` and `Clip_11`); each
 * applies from its `since` until the next form's. Every other op table (the registry, the opset upgrade, the
 * cost count, the standard-ONNX export's opset check) is derived from these.
 */
export interface OpDeclaration extends OpVersion {
  /** The ONNX op type. */
  readonly op: string;
  /** '' (the default ONNX domain) when absent. */
  readonly domain?: string;
  /** The last opset this form applies to, when pg does not claim the op beyond it; open-ended when absent. */
  readonly until?: number;
  readonly kernel: Kernel;
  /** The same for every form of an op. */
  readonly cost: CostClass;
  /**
   * Nodes after this op that its kernel can run while training (KernelContext.tail), when the executor finds
   * them: `relu`, a Relu reading its output; `add-relu`, an Add of its output and its input `offsetInput`, then a
   * Relu; each reading nothing else and read by nothing else.
   */
  readonly tail?: { readonly kind: 'relu' } | { readonly kind: 'add-relu'; readonly offsetInput: number };
}

/** A declaration's name in messages: `ReduceMean_18` (domain-qualified outside the default domain). */
export function declarationName(d: Pick<OpDeclaration, 'op' | 'domain' | 'since'>): string {
  return `${d.domain ? `${d.domain}.` : ''}${d.op}_${d.since}`;
}
