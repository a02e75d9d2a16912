import { Args, Flags } from '@oclif/core';
import {
  checkFiniteWeights,
  checkpointPathFor,
  DEFAULT_TARGET_SPARSITY,
  finetune,
  FINETUNE_DEFAULTS,
  InterruptedError,
  readCheckpoint,
  readModel,
  withPreprocess,
  writeCheckpoint,
  writeModel,
  type FinetuneOptions,
  type FinetuneResult,
} from '@pg/core';
import { BaseCommand } from '../base-command.js';
import { countFlag, durationFlag, evalDataFlags, inHelpGroup, numberFlag, numberOrNoneFlag, outputFlags, requiredDataFlags, requireEvalDataFor } from '../flags.js';
import { listenForInterrupt } from '../interrupt.js';
import { describePreprocess, openDataFor, openEvalDataFor, skippedFilesWarning } from '../model-data.js';
import { assertOutputIsNotInput } from '../output-path.js';
import { createProgress, isCI, progressMode } from '../progress.js';
import { renderFinetune } from '../render/finetune.js';
import { trainingFlags, trainingOptions } from '../training-flags.js';

/** `pg finetune --json` result (schemas/finetune.schema.json): core's FinetuneResult and where things came from and went. */
export interface FinetuneJson extends FinetuneResult {
  /** The gated model read, as given. */
  model: string;
  /** The fine-tuned model written. */
  output: string;
  /** The training data, naming its source (e.g. bundled subset or the system copy). */
  data: string;
  /** The held-out data evaluated on, if any. */
  eval_data: string | null;
  /** The checkpoint written when training stopped early or every --checkpoint-every steps, if any. */
  checkpoint: string | null;
  /** Files of the training and held-out data skipped as unreadable (--skip-bad). */
  skipped_files: number;
}

const D = FINETUNE_DEFAULTS;

export default class Finetune extends BaseCommand<typeof Finetune> {
  static override summary = "Train a gated model's thresholds, scales and weights on data (pg's recipe by default).";

  static override description = `Without options this is pg's recipe: the thresholds are calibrated to a target sparsity of ${DEFAULT_TARGET_SPARSITY}, then one epoch trains the thresholds, the static activation scales and the weights, and a final calibration puts each gated layer's sparsity back on the target.

Training uses the method's straight-through estimator and sigmoid-surrogate gate gradient (slope --alpha), cross-entropy plus the gate penalty σ·Σ‖Δ − δ‖ (--penalty σ, --gate-target δ). --no-train-weights trains only the thresholds and scales (the paper's setting); the weights otherwise train at --weight-lr.

--target-sparsity S (default ${DEFAULT_TARGET_SPARSITY}) first calibrates each channel's threshold from data so that a fraction S of its outputs skip the low-bit update, then keeps the sparsity near S while training, and --final-calibration (on whenever there is a target; --no-final-calibration turns it off) shifts each layer's thresholds onto S at the end; --target-bavg B does the same for the average bitwidth B = B_hb + (1 − S)·B_lb. --target-sparsity none sets no target: the thresholds start as the model has them and only the penalty moves them. Uncalibrated static activation scales are calibrated before training.

--eval-data or --eval-split evaluates accuracy and sparsity on held-out data every --eval-every steps and at the end; --keep-best writes the best evaluated model. --time-budget stops training before the run would take longer.

On a terminal a progress bar is drawn on stderr; elsewhere (CI, pipes) a plain line is printed every ~10% of the steps. Ctrl-C (SIGINT) or SIGTERM stops after the current step, saves what was trained to --output and a checkpoint to OUT.ckpt.json (+ .bin), prints how to resume and exits with code 130; --resume OUT.ckpt.json continues to the model an uninterrupted run gives. --seed makes two runs give identical thresholds.`;

  static override examples = [
    {
      description: "pg's recipe on Fashion-MNIST: one epoch, target sparsity 0.85, weights trained, final calibration",
      command: '<%= config.bin %> <%= command.id %> gated.onnx --data fashion-mnist:train -o tuned.onnx',
    },
    {
      description: "The paper's setting: thresholds and scales only, at 80% sparsity, on your own data (an .npz with x and y)",
      command: '<%= config.bin %> <%= command.id %> gated.onnx --data train.npz -o tuned.onnx --no-train-weights --target-sparsity 0.8',
    },
    {
      description: 'Aim at an average of 2.6 bits, evaluate on 10% held out every 100 steps, keep the best, stop after 10 minutes',
      command:
        '<%= config.bin %> <%= command.id %> gated.onnx --data fashion-mnist:train -o tuned.onnx --target-bavg 2.6 --eval-split 0.1 --eval-every 100 --keep-best --time-budget 10m',
    },
    {
      description: 'Continue a run that was interrupted (same flags, plus --resume)',
      command: '<%= config.bin %> <%= command.id %> gated.onnx --data fashion-mnist:train -o tuned.onnx --resume tuned.onnx.ckpt.json',
    },
    {
      description: 'A quick smoke run for CI, JSON on stdout',
      command: '<%= config.bin %> <%= command.id %> gated.onnx --data fashion-mnist:train -o tuned.onnx --max-steps 20 --json',
    },
  ];

  static override args = {
    model: Args.string({ required: true, description: "Gated ONNX model (the output of 'pg convert')." }),
  };

  static override flags = {
    ...outputFlags,
    'target-sparsity': numberOrNoneFlag({ min: 0, below: 1 })({
      helpValue: 'S|none',
      summary: `Calibrate thresholds to skip this fraction of updates, and keep near it. Default: ${DEFAULT_TARGET_SPARSITY} (unless --target-bavg); none: no target.`,
    }),
    'target-bavg': numberFlag({ above: 0 })({
      helpValue: 'B',
      summary: 'Like --target-sparsity, as an average bitwidth B_avg = B_hb + (1 − S)·B_lb within [B_hb, B] (e.g. 2.6 for 4/2 bits).',
    }),
    'time-budget': durationFlag({ helpValue: 'DURATION', summary: 'Stop training before the run would exceed this (e.g. 90s, 10m, 1h30m).' }),
    'checkpoint-every': countFlag({ helpValue: 'N', summary: 'Also write the checkpoint every N steps.' }),
    resume: Flags.string({ helpValue: 'CKPT', summary: 'Continue the interrupted run whose checkpoint this is (OUT.ckpt.json).' }),
    ...inHelpGroup('DATA', requiredDataFlags),
    ...trainingFlags,
    ...inHelpGroup('EVALUATION', {
      ...evalDataFlags,
      'eval-split': numberFlag({ above: 0, below: 1 })({
        helpValue: 'F',
        summary: 'Hold out a seeded fraction F of --data for evaluation (never trained on).',
      }),
      'eval-every': countFlag({ helpValue: 'N', summary: 'Evaluate on the held-out data every N steps (and at the end).' }),
      'keep-best': Flags.boolean({
        default: D.keepBest,
        summary: 'Write the evaluated model with the best held-out accuracy (ties: higher sparsity) that meets the target.',
      }),
    }),
  };

  public async run(): Promise<FinetuneJson> {
    const { args, flags } = this;
    requireEvalDataFor(flags);
    await assertOutputIsNotInput(args.model, flags.output, flags.force);
    const model = await readModel(args.model);
    checkFiniteWeights(model);
    const { dataset, preprocess } = await openDataFor(model, flags, (m) => this.warn(m));
    this.note(`Training on ${dataset.name}, ${describePreprocess(preprocess)}.`);
    const evalData = (await openEvalDataFor(model, flags, (m) => this.warn(m)))?.dataset;
    if (evalData !== undefined) this.note(`Evaluating on ${evalData.name}.`);
    const resume = flags.resume === undefined ? undefined : await readCheckpoint(flags.resume);
    if (resume) this.note(`Resuming from step ${resume.position.step} of ${resume.position.totalSteps} (${flags.resume}).`);

    const options: FinetuneOptions = {
      ...trainingOptions(flags),
      targetSparsity: flags['target-sparsity'],
      targetBavg: flags['target-bavg'],
      evalSplit: flags['eval-split'],
      evalEvery: flags['eval-every'],
      keepBest: flags['keep-best'],
      timeBudgetMs: flags['time-budget'],
      checkpointEvery: flags['checkpoint-every'],
    };
    const progress = createProgress(progressMode({ json: this.jsonEnabled(), isTTY: process.stderr.isTTY === true, ci: isCI(process.env) }), process.stderr);
    const interrupt = listenForInterrupt((sig) => {
      progress.finish();
      this.note(`Received ${sig}: stopping after the current step and saving to ${flags.output} (signal again to quit without saving).`);
    });
    const ckptPath = checkpointPathFor(flags.output);
    let checkpointWritten = false;
    const trained = await finetune(model, dataset, options, {
      onProgress: (p) => progress.update(p),
      signal: interrupt.signal,
      evalData,
      onEvaluation: (e) => {
        // End a bar's line first, so the note gets a line of its own (the bar goes on below it).
        progress.finish();
        this.note(`evaluation at step ${e.step}: accuracy ${(e.accuracy * 100).toFixed(2)}%, sparsity ${e.sparsity.toFixed(3)}${e.meets_target ? '' : ' (below the target)'}`);
      },
      onCheckpoint: async (c) => {
        await writeCheckpoint(ckptPath, c);
        checkpointWritten = true;
      },
      resume,
      resumeFrom: flags.resume,
    }).finally(() => progress.finish());

    // Normalisation given by flags is recorded, so 'pg report' on the output uses the same by default.
    const tuned = preprocess.source.mean === 'flag' || preprocess.source.std === 'flag' ? withPreprocess(trained.model, preprocess) : trained.model;
    try {
      await writeModel(tuned, flags.output);
    } finally {
      interrupt.dispose();
    }
    const resumeHint = `pg finetune ${resumeArgv(this.argv, ckptPath).join(' ')}`;
    if (interrupt.received !== undefined) {
      throw new InterruptedError(
        `Interrupted by ${interrupt.received} after ${trained.result.steps} step(s); saved the model trained so far to ${flags.output} and a checkpoint to ${ckptPath}.`,
        { action: `Resume with: ${resumeHint}` },
      );
    }
    if (trained.result.stopped === 'time-budget') this.note(`Stopped by --time-budget after ${trained.result.steps} step(s); to train on: ${resumeHint}`);

    const result: FinetuneJson = {
      ...trained.result,
      model: args.model,
      output: flags.output,
      data: dataset.name,
      eval_data: evalData?.name ?? (flags['eval-split'] === undefined ? null : `${flags['eval-split']} of ${dataset.name}, held out`),
      checkpoint: checkpointWritten ? ckptPath : null,
      skipped_files: new Set([...(dataset.skipped?.keys() ?? []), ...(evalData?.skipped?.keys() ?? [])]).size,
    };
    const skipped = skippedFilesWarning(dataset, evalData);
    if (skipped !== undefined) this.warn(skipped);
    this.log(renderFinetune(result));
    return result;
  }
}

/** The command line that resumes this run: the same arguments, with --resume pointing at the checkpoint. */
export function resumeArgv(argv: readonly string[], checkpoint: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--resume') {
      i++;
      continue;
    }
    if (argv[i].startsWith('--resume=')) continue;
    out.push(argv[i]);
  }
  return [...out, '--resume', checkpoint].map(shellQuote);
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}
