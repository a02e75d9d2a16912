import { functionsFor, isPgNode, writeModel, type Model } from '@pg/core';
import type { ExportBackend, ExportOptions, ExportResult } from './backend.js';
import { writtenFiles } from './written-files.js';

/**
 * The gated model in pg's own format (docs/gated-format.md): org.precisiongating ops, each with its
 * model-local function. The same file `pg convert` and `pg finetune` write; for toolchains that match
 * on pg's ops. The functions are regenerated from the nodes, so they always fit the pg version writing.
 */
export const onnxPgBackend: ExportBackend = {
  name: 'onnx-pg',
  description: "pg's custom-domain ONNX (org.precisiongating ops with their functions), as `pg convert` writes it.",
  async export(model: Model, options: ExportOptions): Promise<ExportResult> {
    const pgNodes = model.graph.nodes.filter(isPgNode).length;
    const written = await writeModel({ ...model, functions: functionsFor(model) }, options.output);
    const files = [{ path: written.modelPath, role: 'model' }];
    if (written.dataPath) files.unshift({ path: written.dataPath, role: 'external-data' });
    return {
      backend: 'onnx-pg',
      files: await writtenFiles(files),
      notes: pgNodes === 0 ? ['the model has no pg layers: written as it is'] : [`${pgNodes} pg layer(s) kept as org.precisiongating ops`],
    };
  },
};
