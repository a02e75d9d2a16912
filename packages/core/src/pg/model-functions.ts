import type { FunctionDef, Model } from '../graph/index.js';
import { onnxOpset } from '../graph/index.js';
import { PG_DOMAIN, PG_DOMAIN_VERSION } from './format.js';
import { pgFunctions } from './functions.js';
import { matMulFunctions } from './matmul-functions.js';

/**
 * The model's functions with pg's replaced by the ones its pg nodes need (other functions kept), in the
 * form of the org.precisiongating version the model declares (older files keep their form).
 */
export function functionsFor(model: Model): FunctionDef[] {
  const version = model.opsetImports.find((o) => o.domain === PG_DOMAIN)?.version ?? PG_DOMAIN_VERSION;
  const used = new Set(model.graph.nodes.filter((n) => n.domain === PG_DOMAIN).map((n) => n.opType));
  const opset = onnxOpset(model);
  return [...model.functions.filter((f) => f.domain !== PG_DOMAIN), ...pgFunctions(used, opset, version), ...matMulFunctions(used, opset, version)];
}
