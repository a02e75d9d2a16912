import { Args, Flags } from '@oclif/core';
import { initBackend, readModel } from '@pg/core';
import { exportFormat, exportFormatNames, exportFormats, type ExportedFile, type ExportFormat } from '@pg/exporters';
import { BaseCommand } from '../base-command.js';
import { backendFlag, outputFlags } from '../flags.js';
import { assertOutputIsNotInput } from '../output-path.js';
import { renderExport } from '../render/export.js';

/** `pg export --json` result (schemas/export.schema.json). */
export interface ExportJson {
  /** The input model, as given. */
  model: string;
  format: string;
  /** Every file written, in the order they were replaced (all atomically). */
  files: ExportedFile[];
  notes: string[];
}

/** One format for `pg export --help`: its name, what it is, and the files it writes for -o OUT. */
function describeFormat(f: ExportFormat): string {
  const files = f.files('OUT').map((file) => `${file.path} (${file.role})`);
  return `--format ${f.name}: ${f.description} Writes ${files.join(', ')}.`;
}

export default class Export extends BaseCommand<typeof Export> {
  static override summary = 'Write a gated model in another deployment form: standard ONNX, pg ONNX, or an integer description for hardware.';

  static override description = `${exportFormats().map(describeFormat).join('\n\n')}

onnx replaces every pg layer by its function body (standard ops; ONNX Runtime runs it exactly as it runs the gated file); an ONNX file's external tensor data, if the model has any, goes to OUT.data. hw-json needs static, calibrated activation scales and describes the gated and quantized layers in integers and every other node as an ONNX op with float parameters (docs/hw-json.md); it runs the model once on --backend to size the layers. All files are written atomically, and none may be the input model unless --force.`;

  static override examples = [
    { description: 'Standard ONNX for any runtime', command: '<%= config.bin %> <%= command.id %> gated.onnx --format onnx -o gated-std.onnx' },
    { description: 'The integer description for a hardware team', command: '<%= config.bin %> <%= command.id %> gated.onnx --format hw-json -o gated.hw.json' },
  ];

  static override args = {
    model: Args.string({ required: true, description: 'Gated ONNX model (written by pg convert or pg finetune).' }),
  };

  static override flags = {
    ...outputFlags,
    format: Flags.option({ options: exportFormatNames(), required: true })({ summary: 'The export format.' }),
    // Refuses --backend onnx (and the other format names) naming --format, the flag that chooses the format.
    backend: backendFlag(Object.fromEntries(exportFormatNames().map((name) => [name, `--format ${name}`]))),
  };

  /** onnx and onnx-pg need no TensorFlow.js; a format that runs the model starts the default backend itself unless --backend names one. */
  protected override async initBackend(): Promise<void> {
    if (this.flagGiven('backend')) await initBackend(this.flags.backend);
  }

  public async run(): Promise<ExportJson> {
    const { args, flags } = this;
    const format = exportFormat(flags.format);
    for (const file of format.files(flags.output)) await assertOutputIsNotInput(args.model, file.path, flags.force);
    const model = await readModel(args.model);
    const result = await format.export(model, { output: flags.output });
    const json: ExportJson = { model: args.model, format: result.format, files: result.files, notes: result.notes };
    this.log(renderExport(json));
    return json;
  }
}
