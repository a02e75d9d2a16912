import { Args, Flags } from '@oclif/core';
import { parseInputSpec, readModel, runModelOnFiles, RUN_BACKENDS, type RunResult } from '@pg/core';
import { BaseCommand } from '../base-command.js';
import { nameListFlag } from '../flags.js';
import { renderRun } from '../render/run.js';

export default class Run extends BaseCommand<typeof Run> {
  static override summary = 'Run a model (plain or gated) on .npy inputs and write its outputs as .npy files.';

  static override description = `Reads each model input from an .npy file, runs the model once, and writes the first output (or the outputs named by --output-name) as .npy. Inputs are checked against the shapes the model declares; float64 data is converted to the float32 a model takes, and integer data to the model's int64 inputs.

--backend chooses what runs the model: pg's own executor on a TensorFlow.js backend (wasm, cpu, node), or ONNX Runtime (onnxruntime), the reference to check pg against.

One output goes to the file -o names; several outputs (or -o naming a folder) go to <folder>/<output name>.npy. Files are written atomically.`;

  static override examples = [
    { description: 'Run a model on one input', command: '<%= config.bin %> <%= command.id %> model.onnx --input x.npy -o y.npy' },
    { description: 'The same on ONNX Runtime, to compare', command: '<%= config.bin %> <%= command.id %> model.onnx --input x.npy -o y-ort.npy --backend onnxruntime' },
    {
      description: 'Two named inputs, two outputs into a folder',
      command: '<%= config.bin %> <%= command.id %> model.onnx --input image=x.npy --input mask=m.npy --output-name logits,features -o out/',
    },
  ];

  static override args = {
    model: Args.string({ required: true, description: 'ONNX model to run (plain or gated by pg).' }),
  };

  static override flags = {
    input: Flags.string({
      char: 'i',
      required: true,
      multiple: true,
      multipleNonGreedy: true,
      helpValue: '[NAME=]FILE',
      summary: 'An .npy array for a model input; repeat for several inputs (NAME=FILE says which).',
    }),
    output: Flags.string({
      char: 'o',
      required: true,
      helpValue: 'FILE|DIR',
      summary: 'The .npy file to write, or a folder for several outputs (<folder>/<output name>.npy).',
    }),
    'output-name': nameListFlag({ helpValue: 'NAME', summary: 'Write this model output (repeat or comma-separate). Default: the first output.' }),
    // Replaces the global --backend (wasm|cpu|node) for this command only, adding onnxruntime.
    backend: Flags.option({
      options: RUN_BACKENDS,
      default: 'wasm' as const,
      helpGroup: 'GLOBAL',
      summary: 'What runs the model: a TensorFlow.js backend for pg, or onnxruntime.',
      description: 'wasm (default), cpu and node run pg\'s executor on that TensorFlow.js backend; onnxruntime runs the model with ONNX Runtime (onnxruntime-node, CPU).',
    })(),
  };

  /** The backend is set up by the run itself (tfjs or ONNX Runtime), not before. */
  protected override async initBackend(): Promise<void> {}

  public async run(): Promise<RunResult> {
    const { args, flags } = this;
    const model = await readModel(args.model);
    const inputs = flags.input.map((text) => parseInputSpec(text, model));
    const result = await runModelOnFiles(model, { inputs, output: flags.output, outputNames: flags['output-name'], backend: flags.backend });
    this.log(renderRun(result));
    return result;
  }
}
