import type { FunctionDef, Model, Node } from '../graph/index.js';
import { formatRange, normaliseDomain, type OpRegistry } from './registry.js';

/** An op type pg cannot run, with the nodes that use it (inspect's `unsupported_ops` entries). */
export interface UnsupportedOpGroup {
  op: string;
  /** '' for the default ONNX domain. */
  domain: string;
  count: number;
  nodes: string[];
  reason: string;
}

/** Model-local functions are expanded at most this deep (as the Executor does). */
const MAX_FUNCTION_DEPTH = 16;

/**
 * Which nodes of a model pg cannot run, with the same rules as the Executor: a node runs when the
 * registry has a kernel for its op at the model's opset of its domain, or when it calls a model-local
 * function whose body pg can run. Unlike the Executor, this never throws: it lists. (Here in interpreter/
 * so that `convertModel` can refuse a model pg could not run afterwards.)
 */
export class SupportCheck {
  private readonly opsets: Map<string, number>;
  private readonly functions: Map<string, FunctionDef>;

  constructor(
    model: Model,
    readonly registry: OpRegistry,
  ) {
    this.opsets = new Map(model.opsetImports.map((o) => [normaliseDomain(o.domain), o.version]));
    this.functions = new Map(model.functions.map((f) => [`${f.domain}::${f.name}`, f]));
  }

  /** Why pg cannot run `node`, or undefined when it can. */
  reason(node: Node, depth = 0): string | undefined {
    const domain = normaliseDomain(node.domain);
    const range = this.registry.opsetRange(domain, node.opType);
    if (range) {
      const opset = this.opsets.get(domain) ?? 1;
      return this.registry.find(domain, node.opType, opset) ? undefined : `opset ${opset} is outside what pg supports for ${node.opType} (${formatRange(range)})`;
    }
    const fn = this.functions.get(`${node.domain}::${node.opType}`);
    if (fn && depth <= MAX_FUNCTION_DEPTH) {
      for (const inner of fn.nodes) {
        const why = this.reason(inner, depth + 1);
        if (why !== undefined) return `its model-local function uses ${qualified(inner)}, and ${why}`;
      }
      return undefined;
    }
    return 'pg has no kernel for it';
  }

  /** The op types among `nodes` that pg cannot run, grouped, in order of first use. */
  unsupportedOps(nodes: readonly Node[]): UnsupportedOpGroup[] {
    const byOp = new Map<string, UnsupportedOpGroup>();
    for (const node of nodes) {
      const reason = this.reason(node);
      if (reason === undefined) continue;
      const key = `${node.domain}::${node.opType}::${reason}`;
      const entry = byOp.get(key) ?? { op: node.opType, domain: node.domain, count: 0, nodes: [], reason };
      entry.count++;
      entry.nodes.push(node.name);
      byOp.set(key, entry);
    }
    return [...byOp.values()];
  }
}

function qualified(node: Node): string {
  return node.domain === '' ? node.opType : `${node.domain}.${node.opType}`;
}
