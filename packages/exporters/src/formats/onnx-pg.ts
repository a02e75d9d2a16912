import { functionsFor, isPgNode, refuseRecurrentFunctionExport, writeModel, type Model } from '@pg/core';
import type { ExportFormat, ExportOptions, ExportResult } from './export-format.js';
import { onnxModelFiles, writtenModelFiles } from './written-files.js';

/**
 * The gated model in pg's own format (docs/gated-format.md): org.precisiongating ops, each with its
 * model-local function. The same file `pg convert` and `pg finetune` write; for toolchains that match
 * on pg's ops. The functions are regenerated from the nodes, so they always fit the pg version writing.
 */
export const onnxPgFormat: ExportFormat = {
  name: 'onnx-pg',
  description: "pg's custom-domain ONNX (org.precisiongating ops with their functions), as `pg convert` writes it.",
  files: onnxModelFiles,
  async export(model: Model, options: ExportOptions): Promise<ExportResult> {
    refuseRecurrentFunctionExport(model, 'onnx-pg');
    const pgNodes = model.graph.nodes.filter(isPgNode).length;
    const written = await writeModel({ ...model, functions: functionsFor(model) }, options.output);
    return {
      format: 'onnx-pg',
      files: await writtenModelFiles(written),
      notes: pgNodes === 0 ? ['the model has no pg layers: written as it is'] : [`${pgNodes} pg layer(s) kept as org.precisiongating ops`],
    };
  },
};
