import { Args, Flags } from '@oclif/core';
import { readModel } from '@pg/core';
import { exportBackend, exportBackendNames, exportBackends, tensorFilePath, type ExportedFile } from '@pg/exporters';
import { BaseCommand } from '../base-command.js';
import { outputFlags } from '../flags.js';
import { assertOutputIsNotInput } from '../output-path.js';
import { renderExport } from '../render/export.js';

/** `pg export --json` result (schemas/export.schema.json). */
export interface ExportJson {
  /** The input model, as given. */
  model: string;
  backend: string;
  /** Every file written, in the order they were replaced (all atomically). */
  files: ExportedFile[];
  notes: string[];
}

export default class Export extends BaseCommand<typeof Export> {
  static override summary = 'Write a gated model in another deployment form: standard ONNX, pg ONNX, or an integer description for hardware.';

  static override description = `Backends:
${exportBackends()
  .map((b) => `  ${b.name.padEnd(8)} ${b.description}`)
  .join('\n')}

onnx replaces every pg layer by its function body (standard ops; ONNX Runtime runs it exactly as it runs the gated file). hw-json writes FILE (JSON) and, next to it, the tensors (FILE with .json replaced by .bin); it needs static, calibrated activation scales and describes the gated and quantized layers in integers and every other node as an ONNX op with float parameters (docs/hw-json.md). All files are written atomically.`;

  static override examples = [
    { description: 'Standard ONNX for any runtime', command: '<%= config.bin %> <%= command.id %> gated.onnx --backend onnx -o gated-std.onnx' },
    { description: 'The integer description for a hardware team', command: '<%= config.bin %> <%= command.id %> gated.onnx --backend hw-json -o gated.hw.json' },
  ];

  static override args = {
    model: Args.string({ required: true, description: 'Gated ONNX model (written by pg convert or pg finetune).' }),
  };

  static override flags = {
    // Replaces the global --backend (the TensorFlow.js backend) for this command: here it names the export form.
    backend: Flags.string({
      options: exportBackendNames(),
      required: true,
      summary: 'The export backend: onnx, onnx-pg or hw-json.',
    }),
    ...outputFlags,
    output: Flags.string({
      char: 'o',
      required: true,
      helpValue: 'FILE',
      summary: 'Where to write the export (hw-json: the .json; the tensors go next to it). Replaced atomically.',
    }),
  };

  /** onnx and onnx-pg need no TensorFlow.js; hw-json starts the wasm backend itself to size the layers. */
  protected override async initBackend(): Promise<void> {}

  public async run(): Promise<ExportJson> {
    const { args, flags } = this;
    const backend = exportBackend(flags.backend);
    await assertOutputIsNotInput(args.model, flags.output, flags.force);
    if (backend.name === 'hw-json') await assertOutputIsNotInput(args.model, tensorFilePath(flags.output), flags.force);
    const model = await readModel(args.model);
    const result = await backend.export(model, { output: flags.output });
    const json: ExportJson = { model: args.model, backend: result.backend, files: result.files, notes: result.notes };
    this.log(renderExport(json));
    return json;
  }
}
