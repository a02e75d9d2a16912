import { functionsFor, inlineFunctions, onnxOpset, opRegistry, PG_DOMAIN, UnsupportedModelError, writeModel, type Model } from '@pg/core';
import type { ExportFormat, ExportOptions, ExportResult } from './export-format.js';
import { onnxModelFiles, writtenModelFiles } from './written-files.js';

/** The opset the standard form is written at, at least. */
export const MIN_STANDARD_OPSET = 13;

export interface StandardOnnx {
  model: Model;
  /** pg nodes replaced by their function bodies. */
  inlined: number;
  /** The default-domain opset before, when it was raised to MIN_STANDARD_OPSET. */
  raisedFrom?: number;
}

/**
 * The gated model in standard ONNX ops only: every org.precisiongating node is replaced by the body of
 * its function (the same bodies ONNX Runtime inlines on load, generated for this model's opset), the
 * domain leaves opset_import, and the default opset is at least 13. Other model-local functions stay.
 */
export function toStandardOnnx(model: Model): StandardOnnx {
  const where = model.sourcePath ?? 'the model';
  const opset = onnxOpset(model);
  let raisedFrom: number | undefined;
  if (opset < MIN_STANDARD_OPSET) {
    // Relabelling the opset is enough when every op means the same at both (the op declarations say so).
    const changed = [
      ...new Set(
        model.graph.nodes.filter((n) => (n.domain === '' || n.domain === 'ai.onnx') && !opRegistry.sameMeaning(n.domain, n.opType, opset, MIN_STANDARD_OPSET)).map((n) => n.opType),
      ),
    ];
    if (changed.length > 0) {
      throw new UnsupportedModelError(`${where} uses ONNX opset ${opset}, and its op(s) ${changed.join(', ')} changed meaning before opset ${MIN_STANDARD_OPSET}`, {
        action: `re-export the float model with opset_version ${MIN_STANDARD_OPSET} or later, convert it again, then export`,
      });
    }
    raisedFrom = opset;
  }
  const version = Math.max(opset, MIN_STANDARD_OPSET);
  const opsetImports = model.opsetImports.filter((o) => o.domain !== PG_DOMAIN).map((o) => (o.domain === '' || o.domain === 'ai.onnx' ? { ...o, version } : o));
  // Bodies generated at the opset the file will declare (ReduceMax's axes moved to an input at 18), in the
  // form of the pg format version the model declares (a version-1 file keeps its form).
  const pgImport = model.opsetImports.filter((o) => o.domain === PG_DOMAIN);
  const withBodies: Model = { ...model, opsetImports, functions: functionsFor({ ...model, opsetImports: [...opsetImports, ...pgImport] }) };
  const inlined = model.graph.nodes.filter((n) => n.domain === PG_DOMAIN).length;
  const graph = inlineFunctions(withBodies, (n) => n.domain === PG_DOMAIN);
  const left = graph.nodes.filter((n) => n.domain === PG_DOMAIN);
  if (left.length > 0) {
    throw new UnsupportedModelError(`${where}: node '${left[0].name}' (${left[0].opType}) is a pg op without a function body`, {
      action: 'this pg version does not know the op; export with the pg version that wrote the model',
    });
  }
  return {
    model: { ...withBodies, graph, functions: withBodies.functions.filter((f) => f.domain !== PG_DOMAIN) },
    inlined,
    ...(raisedFrom !== undefined ? { raisedFrom } : {}),
  };
}

export const onnxFormat: ExportFormat = {
  name: 'onnx',
  description: 'Standard ONNX ops only (pg ops inlined, no custom domain, opset >= 13), for any ONNX runtime.',
  files: onnxModelFiles,
  async export(model: Model, options: ExportOptions): Promise<ExportResult> {
    const std = toStandardOnnx(model);
    const written = await writeModel(std.model, options.output);
    const notes = [`${std.inlined} pg layer(s) inlined into standard ONNX ops (opset ${onnxOpset(std.model)})`];
    if (std.raisedFrom !== undefined) notes.push(`opset raised from ${std.raisedFrom} to ${MIN_STANDARD_OPSET} (no op in the model changed meaning between them)`);
    return { format: 'onnx', files: await writtenModelFiles(written), notes };
  },
};
