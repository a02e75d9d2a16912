import { Args, Flags } from '@oclif/core';
import { mergeSweepShards, writeFileAtomic } from '@pg/core';
import { BaseCommand } from '../../base-command.js';
import { renderSweep } from '../../render/sweep.js';
import { renderSweepHtml } from '../../render/sweep-html.js';
import type { SweepJson } from '../sweep.js';

export default class SweepMerge extends BaseCommand<typeof SweepMerge> {
  static override summary = "Merge the shards of a 'pg sweep --shard K/N' into the sweep one unsharded run writes.";

  static override description = `Reads each shard's sweep.shard-K-of-N.json from the folders (or files) given, checks that they come from one run (the same model, grid, settings, data and pg version; every shard once, none stopped with points pending), and writes -o's sweep.json as the unsharded run writes it: every point in grid order, the Pareto frontiers over all of them. Point folders that the shards wrote elsewhere are copied into -o, so -o is a complete sweep folder (pg sweep --resume continues it). --html draws the merged sweep.

A missing shard, or a shard with points pending (killed, interrupted or out of time: run it again with --resume), is refused unless --allow-partial, which sweep.json and the table then state; those points are pending.`;

  static override examples = [
    {
      description: 'Four shards that shared one folder (a volume of an Indexed Job)',
      command: '<%= config.bin %> <%= command.id %> sweep -o sweep --html sweep.html',
    },
    {
      description: "Shards downloaded from a CI matrix's artifacts, one folder each",
      command: '<%= config.bin %> <%= command.id %> shard-1 shard-2 shard-3 shard-4 -o sweep',
    },
  ];

  static override strict = false;

  static override args = {
    dirs: Args.string({ required: true, description: "The shards' --out-dir folders, or their sweep.shard-K-of-N.json files (one or more)." }),
  };

  static override flags = {
    output: Flags.string({ char: 'o', required: true, helpValue: 'DIR', summary: "Folder of the merged sweep: sweep.json and points/<id>/ (may be the shards' shared folder)." }),
    html: Flags.string({ helpValue: 'FILE', summary: "Also write the HTML page 'pg sweep --html' writes." }),
    'allow-partial': Flags.boolean({ default: false, summary: 'Merge even when shards are missing or stopped early; their points stay pending and the output says so.' }),
  };

  /** Merging reads and writes files: no model runs, so no backend starts. */
  protected override async initBackend(): Promise<void> {}

  public async run(): Promise<SweepJson> {
    const { flags } = this;
    const { argv } = await this.parse(SweepMerge);
    const { result, missing, stopped } = await mergeSweepShards(argv as string[], flags.output, { allowPartial: flags['allow-partial'] });
    if (missing.length > 0) this.warn(`shard(s) ${missing.join(', ')} of ${result.partial!.shards} missing: their points are pending.`);
    if (stopped.length > 0) this.warn(`shard(s) ${stopped.join(', ')} stopped with points pending: run them again with --resume, then merge again.`);
    if (flags.html !== undefined) {
      await writeFileAtomic(flags.html, renderSweepHtml(result));
      this.note(`Wrote ${flags.html}.`);
    }
    this.log(renderSweep(result, flags.output));
    return { ...result, out_dir: flags.output, html: flags.html ?? null };
  }
}
