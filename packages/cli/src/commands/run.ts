import { Args, Flags } from '@oclif/core';
import { parseInputSpec, readModel, runModelOnFiles, UsageError, type BackendName, type RunResult } from '@pg/core';
import { BaseCommand } from '../base-command.js';
import { backendFlag, nameListFlag } from '../flags.js';
import { renderRun } from '../render/run.js';

/** What runs the model: pg's own executor (on the --backend TensorFlow.js backend), or ONNX Runtime. */
export const RUNTIMES = ['pg', 'onnxruntime'] as const;
export type Runtime = (typeof RUNTIMES)[number];

/** `pg run --json` result (schemas/run.schema.json): core's run result, saying which runtime ran it and, for pg, on which backend. */
export interface RunJson extends Omit<RunResult, 'engine'> {
  runtime: Runtime;
  /** The TensorFlow.js backend pg ran on; null for onnxruntime. */
  backend: BackendName | null;
}

export default class Run extends BaseCommand<typeof Run> {
  static override summary = 'Run a model (plain or gated) on .npy inputs and write its outputs as .npy files.';

  static override description = `Reads each model input from an .npy file, runs the model once, and writes the first output (or the outputs named by --output-name) as .npy. Inputs are checked against the shapes the model declares; float64 data is converted to the float32 a model takes, and integer data to the model's int64 inputs.

--runtime chooses what runs the model: pg's own executor (pg, the default) on the TensorFlow.js backend --backend names (wasm, cpu, node), or ONNX Runtime (onnxruntime, CPU), the reference to check pg against.

One output goes to the file -o names; several outputs (or -o naming a folder) go to <folder>/<output name>.npy. Files are written atomically.`;

  static override examples = [
    { description: 'Run a model on one input', command: '<%= config.bin %> <%= command.id %> model.onnx --input x.npy -o y.npy' },
    { description: 'The same on ONNX Runtime, to compare', command: '<%= config.bin %> <%= command.id %> model.onnx --input x.npy -o y-ort.npy --runtime onnxruntime' },
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
    runtime: Flags.option({ options: RUNTIMES, default: 'pg' as const })({
      summary: "What runs the model: pg's executor (on --backend), or ONNX Runtime (onnxruntime-node, CPU) to check pg against.",
    }),
    // Refuses --backend onnxruntime naming --runtime onnxruntime, the flag that chooses ONNX Runtime.
    backend: backendFlag({ onnxruntime: '--runtime onnxruntime' }),
  };

  /** The backend is set up by the run itself (tfjs or ONNX Runtime), not before. */
  protected override async initBackend(): Promise<void> {}

  public async run(): Promise<RunJson> {
    const { args, flags } = this;
    const onnxruntime = flags.runtime === 'onnxruntime';
    if (onnxruntime && this.flagGiven('backend')) {
      throw new UsageError(`--backend ${flags.backend} picks the TensorFlow.js backend of --runtime pg; ONNX Runtime runs on its own CPU provider.`, {
        action: 'Leave out --backend, or use --runtime pg.',
      });
    }
    const model = await readModel(args.model);
    const inputs = flags.input.map((text) => parseInputSpec(text, model));
    const run = await runModelOnFiles(model, { inputs, output: flags.output, outputNames: flags['output-name'], engine: onnxruntime ? 'onnxruntime' : flags.backend });
    const { engine, model: path, ...ran } = run;
    const result: RunJson = { model: path, backend: onnxruntime ? null : flags.backend, ...ran, runtime: flags.runtime };
    this.log(renderRun(result));
    return result;
  }
}
