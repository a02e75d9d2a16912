import { Args, Flags } from '@oclif/core';
import {
  CONVERSION_MODES,
  inspectModel,
  InterruptedError,
  planSweepShards,
  readModel,
  runSweep,
  sweepEstimates,
  sweepShardFile,
  UsageError,
  validateBits,
  writeFileAtomic,
  type ConversionMode,
  type ShardSpec,
  type SweepOptions,
  type SweepResult,
  type SweepShardPlan,
} from '@pg/core';
import { reportPricing, selectProfiles } from '@pg/exporters';
import { BaseCommand } from '../base-command.js';
import { bitsFlags, HBITS_DEFAULT } from '../conversion-flags.js';
import { costFlags } from '../cost-flags.js';
import { countFlag, durationFlag, evalDataFlags, firstLayerBitsOption, inHelpGroup, nameListFlag, numberListFlag, requiredDataFlags, requireEvalDataFor } from '../flags.js';
import { listenForInterrupt } from '../interrupt.js';
import { describePreprocess, openDataFor, openEvalDataFor } from '../model-data.js';
import { renderSweep, renderSweepPlan } from '../render/sweep.js';
import { fileSha256, resolveShard, shardFlag } from '../shard-flags.js';
import { renderSweepHtml } from '../render/sweep-html.js';
import { duration, fixed, percent } from '../render/table.js';
import { trainingFlags, trainingOptions } from '../training-flags.js';

/** `pg sweep --json` result (schemas/sweep.schema.json): sweep.json's content and where it is. */
export interface SweepJson extends SweepResult {
  out_dir: string;
  /** The HTML page written with --html, or null. */
  html: string | null;
}

/** `pg sweep --dry-run --json` result: the grid's points split into shards, each with its estimated cost. */
export interface SweepPlanJson {
  dry_run: true;
  /** The shard this run would be (--shard), or null. */
  shard: ShardSpec | null;
  /** Per point, grid order: its id, shard and estimated MACs (docs/scale-out.md). */
  points: Array<{ id: string; shard: number; estimate: number }>;
  shards: SweepShardPlan[];
  /** The largest shard's estimate over the mean shard's. */
  imbalance: number;
}

export default class Sweep extends BaseCommand<typeof Sweep> {
  static override summary = 'Convert, fine-tune and report a model over a grid of modes, bits, hbits and target sparsity.';

  static override description = `For every --mode and every combination of --bits, --hbits and --target-sparsity with hbits < bits (a static mode point: every --bits, no hbits, no target), runs what 'pg convert --mode M', 'pg finetune --target-sparsity S' and 'pg report' do, writes the point's fine-tuned model and report into --out-dir/points/<id>/, and rewrites --out-dir/sweep.json after each point: every point's mode, bits, accuracy and drop from the float model, whole-model figures (activation bits per MAC over every conv/linear layer, bit-serial BitOps), the gated layers' B_avg and sparsity, and costs, and the Pareto frontier of accuracy against the whole model's activation bits (and against B_avg and each --cost model).

Every point is fine-tuned with the TRAINING flags, which mean what they mean for 'pg finetune', and measured on --eval-data (without it, on --data, with a warning); --batch-size is also the batch of that measurement.

--resume continues a sweep in --out-dir: points already complete there are kept and not run again (a folder holding a sweep is refused without it). --time-budget stops between points once the next point would likely end after the budget; the rest stay pending for a later --resume. Ctrl-C stops after the current training step; that point stays pending (exit 130).`;

  static override examples = [
    {
      description: 'Four configurations on Fashion-MNIST, 200 steps each, an HTML page of the frontier',
      command:
        '<%= config.bin %> <%= command.id %> model.onnx --data fashion-mnist:train --eval-data fashion-mnist:test --bits 4,3 --hbits 2,1 --target-sparsity 0.8,0.9 --max-steps 200 --out-dir sweep --html sweep.html',
    },
    {
      description: 'Continue a sweep stopped by its time budget',
      command:
        '<%= config.bin %> <%= command.id %> model.onnx --data fashion-mnist:train --eval-data fashion-mnist:test --bits 4,3 --hbits 2,1 --target-sparsity 0.8,0.9 --max-steps 200 --out-dir sweep --resume --time-budget 30m',
    },
    {
      description: "How a sweep splits over 4 machines (each then runs its --shard K/4; 'pg sweep merge' joins them)",
      command:
        '<%= config.bin %> <%= command.id %> model.onnx --data fashion-mnist:train --eval-data fashion-mnist:test --bits 4,3 --hbits 2,1 --target-sparsity 0.8,0.9 --out-dir sweep --shard 1/4 --dry-run',
    },
  ];

  static override args = {
    model: Args.string({ required: true, description: 'The float ONNX model to sweep.' }),
  };

  static override flags = {
    'out-dir': Flags.string({ required: true, helpValue: 'DIR', summary: 'Folder of the sweep: sweep.json and points/<id>/{model.onnx,report.json}.' }),
    resume: Flags.boolean({ default: false, summary: 'Continue the sweep in --out-dir, keeping its complete points.' }),
    'time-budget': durationFlag({ helpValue: 'DURATION', summary: 'Stop between points before exceeding this wall time (e.g. 90s, 30m, 1h30m).' }),
    html: Flags.string({ helpValue: 'FILE', summary: "Also write an HTML page: accuracy against the whole model's activation bits, B_avg and each cost, frontiers drawn." }),
    ...inHelpGroup('GRID', {
      ...bitsFlags,
      mode: nameListFlag({
        helpValue: 'MODE',
        default: ['pg'],
        summary: `Conversion modes of the grid (comma-separated: ${CONVERSION_MODES.join(', ')}); static points have no hbits or target.`,
      }),
      bits: numberListFlag({ helpValue: 'B', default: [4], summary: 'Activation bits of the grid (comma-separated).' }),
      hbits: numberListFlag({ helpValue: 'H', summary: `Prediction bits of the grid (comma-separated, default ${HBITS_DEFAULT}); combinations with hbits >= bits are left out.` }),
      'target-sparsity': numberListFlag({ helpValue: 'S', summary: 'Target sparsities of the grid (comma-separated, each in [0, 1)); needed unless every --mode is static.' }),
    }),
    ...inHelpGroup('DATA', requiredDataFlags),
    ...trainingFlags,
    ...inHelpGroup('EVALUATION', {
      ...evalDataFlags,
      'eval-limit': countFlag({ helpValue: 'N', summary: 'Measure each point on the first N samples of the evaluation data.' }),
    }),
    ...costFlags,
    ...inHelpGroup('SHARDING', {
      shard: shardFlag("Run only shard K of N of the grid's points (balanced by estimated cost), writing sweep.shard-K-of-N.json into --out-dir for 'pg sweep merge';"),
      'dry-run': Flags.boolean({ default: false, summary: "Print each shard's points and estimated cost (of --shard's N, else 1) and run nothing." }),
    }),
  };

  public async run(): Promise<SweepJson | SweepPlanJson> {
    const { args, flags } = this;
    requireEvalDataFor(flags);
    const shard = resolveShard(flags.shard);
    if (shard && flags.html !== undefined) {
      throw new UsageError("--html with --shard would draw one shard's points.", { action: "Give --html to 'pg sweep merge', which draws them all." });
    }
    const grid = sweepGrid(flags);
    // Every valid combination must convert: check bit widths now, not after hours of sweeping.
    const firstLayerBits = firstLayerBitsOption(flags['first-layer-bits']);
    for (const mode of grid.mode) {
      for (const bits of grid.bits) {
        if (mode === 'static') validateBits({ mode, bits, hbits: 0, wbits: flags.wbits, firstLayerBits });
        else for (const hbits of grid.hbits) if (hbits < bits) validateBits({ mode, bits, hbits, wbits: flags.wbits, firstLayerBits });
      }
    }
    const profiles = flags.cost === undefined && flags.profile === undefined ? [] : await selectProfiles(flags.cost, flags.profile ?? []);
    const price = await reportPricing(profiles);
    const model = await readModel(args.model);
    const warn = (m: string): void => void this.warn(m);
    const train = await openDataFor(model, flags, warn);
    const evaluation = (await openEvalDataFor(model, flags, warn)) ?? train;
    if (evaluation === train) this.warn('No --eval-data: each point is measured on its training data (--data), which overstates accuracy.');
    this.note(`Training on ${train.dataset.name}, measuring on ${evaluation.dataset.name}, ${describePreprocess(train.preprocess)}.`);
    const fromFlags = train.preprocess.source.mean === 'flag' || train.preprocess.source.std === 'flag';
    // A shard's points, and --dry-run's estimates, weigh each point by the model's MACs per sample.
    const macsPerSample = shard || flags['dry-run'] ? (inspectModel(model).macs ?? 0) : 0;

    const options: SweepOptions = {
      grid,
      outDir: flags['out-dir'],
      modelPath: args.model,
      wbits: flags.wbits,
      actScale: flags['act-scale'],
      firstLayerBits,
      // keep-best needs held-out evaluation during training; a point is measured after it instead.
      finetune: { ...trainingOptions(flags), keepBest: false },
      report: { batchSize: flags['batch-size'], limit: flags['eval-limit'] },
      resume: flags.resume,
      timeBudgetMs: flags['time-budget'],
      preprocess: fromFlags ? train.preprocess : undefined,
      price,
      shard: shard && { spec: shard, identity: { pg_version: this.config.version, model_sha256: await fileSha256(args.model) }, macsPerSample },
    };
    if (flags['dry-run']) return this.dryRun(sweepEstimates(macsPerSample, train.dataset, evaluation.dataset, options), shard);
    if (shard) this.note(`Shard ${shard.index}/${shard.count}: writing ${sweepShardFile(shard)} into ${flags['out-dir']}.`);

    const interrupt = listenForInterrupt((sig) => this.note(`Received ${sig}: stopping after the current step; this point stays pending (signal again to quit at once).`));
    let result: SweepResult;
    try {
      result = await runSweep(model, train.dataset, evaluation.dataset, options, {
        signal: interrupt.signal,
        onEvent: (e) => {
          const tag = `[${e.index + 1}/${e.total}] ${e.point.id}`;
          if (e.kind === 'reused') this.note(`${tag}: complete in ${flags['out-dir']}, kept`);
          else if (e.kind === 'start') this.note(`${tag}: converting, fine-tuning, measuring...`);
          else if (e.kind === 'done')
            this.note(
              `${tag}: accuracy ${percent(e.point.accuracy)}, ${fixed(e.point.whole_model?.act_bits, 2)} activation bits per MAC (whole model), B_avg ${fixed(e.point.bavg, 2)} (gated layers) (${duration((e.point.seconds ?? 0) * 1000)})`,
            );
          else this.note(`${tag}: not started (${interrupt.received ? 'interrupted' : 'time budget reached'})`);
        },
      });
    } finally {
      interrupt.dispose();
    }
    if (flags.html !== undefined) {
      await writeFileAtomic(flags.html, renderSweepHtml(result));
      this.note(`Wrote ${flags.html}.`);
    }
    if (result.stopped === 'interrupted') {
      throw new InterruptedError(`Interrupted by ${interrupt.received ?? 'a signal'}: ${result.complete} of ${result.points.length} point(s) complete in ${flags['out-dir']}.`, {
        action: 'Run the same command with --resume to continue.',
      });
    }
    this.log(renderSweep(result, flags['out-dir']));
    return { ...result, out_dir: flags['out-dir'], html: flags.html ?? null };
  }

  /** --dry-run: the plan of N shards (--shard's N, else 1), printed; nothing runs or is written. */
  private dryRun(points: ReturnType<typeof sweepEstimates>, shard: ShardSpec | undefined): SweepPlanJson {
    const shards = planSweepShards(points, shard?.count ?? 1);
    const shardOf = new Map(shards.flatMap((s) => s.points.map((id) => [id, s.index] as const)));
    const mean = shards.reduce((a, s) => a + s.estimate, 0) / shards.length;
    const plan: SweepPlanJson = {
      dry_run: true,
      shard: shard ?? null,
      points: points.map((p) => ({ id: p.id, shard: shardOf.get(p.id)!, estimate: p.estimate })),
      shards,
      imbalance: mean > 0 ? Math.max(...shards.map((s) => s.estimate)) / mean : 1,
    };
    this.log(renderSweepPlan(plan));
    return plan;
  }
}

/**
 * The grid from the GRID flags: --mode values checked against the modes, and the flags a mode cannot use refused
 * (an --hbits or --target-sparsity with only static modes) rather than silently ignored.
 */
function sweepGrid(flags: { mode: string[]; bits: number[]; hbits?: number[]; 'target-sparsity'?: number[] }) {
  const unknown = flags.mode.find((m) => !(CONVERSION_MODES as readonly string[]).includes(m));
  if (unknown !== undefined) throw new UsageError(`--mode ${unknown} is not a conversion mode`, { action: `use one or more of ${CONVERSION_MODES.join(', ')}, comma-separated` });
  const mode = flags.mode as ConversionMode[];
  const gating = mode.some((m) => m !== 'static');
  const targets = flags['target-sparsity'];
  if (!gating) {
    const flag = flags.hbits !== undefined ? '--hbits' : targets !== undefined ? '--target-sparsity' : undefined;
    if (flag)
      throw new UsageError(`${flag} has no meaning when every --mode is static: a static point has no prediction and no gate`, {
        action: `leave out ${flag}, or add pg or seernet to --mode`,
      });
  } else if (targets === undefined) {
    throw new UsageError('--target-sparsity is required for the gated modes (pg, seernet)', { action: 'give the target sparsities, e.g. --target-sparsity 0.8,0.9' });
  }
  for (const s of targets ?? []) {
    if (!(s >= 0 && s < 1)) throw new UsageError(`--target-sparsity ${s} is out of range`, { action: 'give values in [0, 1), e.g. 0.8,0.9' });
  }
  return { mode, bits: flags.bits, hbits: gating ? (flags.hbits ?? [HBITS_DEFAULT]) : [], target_sparsity: targets ?? [] };
}
