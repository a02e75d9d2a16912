import type { FunctionDef, Model } from '../graph/index.js';
import { onnxOpset } from '../graph/index.js';
import { UnsupportedModelError } from '../errors/index.js';
import { INTEGER_ACCUMULATION_VERSION, PG_DOMAIN, PG_DOMAIN_VERSION, RECOMPUTE_ATTR, isGatedNode } from './format.js';
import { pgFunctions } from './functions.js';

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
  const recompute = new Set<string>();
  for (const op of used) {
    const gated = pgNodes.filter((n) => n.opType === op && isGatedNode(n));
    const carrying = gated.filter((n) => RECOMPUTE_ATTR in n.attributes);
    if (carrying.length === 0) continue;
    const lacking = gated.find((n) => !(RECOMPUTE_ATTR in n.attributes));
    if (lacking || version < INTEGER_ACCUMULATION_VERSION) {
      const why = lacking ? `'${lacking.name}' lacks it while '${carrying[0].name}' has it` : `org.precisiongating version ${version} has no such attribute`;
      throw new UnsupportedModelError(`${model.sourcePath ?? 'the model'}: ${op} nodes mix the ${RECOMPUTE_ATTR} attribute (${why})`, {
        action: `convert the float model again with one --mode for the whole model`,
      });
    }
    recompute.add(op);
  }
  return [...model.functions.filter((f) => f.domain !== PG_DOMAIN), ...pgFunctions(used, onnxOpset(model), version, recompute)];
}
