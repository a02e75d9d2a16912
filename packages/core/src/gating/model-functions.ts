import type { FunctionDef, Model, Node } from '../graph/index.js';
import { onnxOpset } from '../graph/index.js';
import { UnsupportedModelError } from '../errors/index.js';
import { INTEGER_ACCUMULATION_VERSION, PG_CONV, PG_DOMAIN, PG_DOMAIN_VERSION, PG_GEMM, RECOMPUTE_ATTR, isGatedNode } from './format.js';
import { pgFunctions } from './functions.js';
import { matMulFunctions } from './matmul-functions.js';
import { recurrentFunctions } from './recurrent-functions.js';

/**
 * The model's functions with pg's replaced by the ones its pg nodes need (other functions kept), in the
 * form of the org.precisiongating version the model declares (older files keep their form). A gated op whose
 * nodes carry RECOMPUTE_ATTR gets the body that reads it; a function is one body for all its callers, so
 * either every node of that op carries it or none does.
 */
export function functionsFor(model: Model): FunctionDef[] {
  const version = model.opsetImports.find((o) => o.domain === PG_DOMAIN)?.version ?? PG_DOMAIN_VERSION;
  const pgNodes = model.graph.nodes.filter((n) => n.domain === PG_DOMAIN);
  const used = new Set(pgNodes.map((n) => n.opType));
  const opset = onnxOpset(model);
  return [
    ...model.functions.filter((f) => f.domain !== PG_DOMAIN),
    ...pgFunctions(used, opset, version, recomputing(model, pgNodes, used, version)),
    ...matMulFunctions(used, opset, version),
    ...recurrentFunctions(pgNodes, opset, model.sourcePath ?? 'the model'),
  ];
}

/** The gated ops whose nodes carry RECOMPUTE_ATTR (all of them or none; PGConv and PGGemm only). */
function recomputing(model: Model, pgNodes: Node[], used: Set<string>, version: number): Set<string> {
  const recompute = new Set<string>();
  for (const op of used) {
    const gated = pgNodes.filter((n) => n.opType === op && isGatedNode(n));
    const carrying = gated.filter((n) => RECOMPUTE_ATTR in n.attributes);
    if (carrying.length === 0) continue;
    if (op !== PG_CONV && op !== PG_GEMM) {
      throw new UnsupportedModelError(
        `${model.sourcePath ?? 'the model'}: ${op} node '${carrying[0].name}' has the ${RECOMPUTE_ATTR} attribute, which only PGConv and PGGemm take`,
        {
          action: 'convert the float model again: --mode seernet gates plain Conv/Gemm layers only',
        },
      );
    }
    const lacking = gated.find((n) => !(RECOMPUTE_ATTR in n.attributes));
    if (lacking || version < INTEGER_ACCUMULATION_VERSION) {
      const why = lacking ? `'${lacking.name}' lacks it while '${carrying[0].name}' has it` : `org.precisiongating version ${version} has no such attribute`;
      throw new UnsupportedModelError(`${model.sourcePath ?? 'the model'}: ${op} nodes mix the ${RECOMPUTE_ATTR} attribute (${why})`, {
        action: `convert the float model again with one --mode for the whole model`,
      });
    }
    recompute.add(op);
  }
  return recompute;
}
