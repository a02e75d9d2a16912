import type { FinetuneProgress } from '@pg/core';
import { duration } from './render/table.js';

export interface ProgressSink {
  update(p: FinetuneProgress): void;
  /** Ends the display (a bar leaves its last state on its own line). */
  finish(): void;
}

export type ProgressMode = 'bar' | 'lines' | 'none';

/**
 * A one-line bar on a terminal; in CI or when stderr is not a terminal, a plain line every ~10% of steps
 * (bars full of \r make unreadable logs); with --json nothing unless stderr is a terminal, so a script
 * capturing both streams gets only the JSON document.
 */
export function progressMode(opts: { json: boolean; isTTY: boolean; ci: boolean }): ProgressMode {
  const terminal = opts.isTTY && !opts.ci;
  if (terminal) return 'bar';
  return opts.json ? 'none' : 'lines';
}

/** CI systems set CI=true (GitHub Actions, GitLab, our .ci/run); some set it to 1. */
export function isCI(env: Record<string, string | undefined>): boolean {
  const ci = env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

export function createProgress(mode: ProgressMode, out: NodeJS.WritableStream & { columns?: number }): ProgressSink {
  if (mode === 'none') return { update: () => {}, finish: () => {} };
  return mode === 'bar' ? new Bar(out) : new Lines(out);
}

function stats(p: FinetuneProgress): string {
  const eta = p.step > 0 ? (p.elapsedMs / p.step) * (p.totalSteps - p.step) : 0;
  // p.epoch counts from 0; people count epochs from 1.
  return `epoch ${p.epoch + 1}  loss ${p.loss.toFixed(4)}  sparsity ${p.sparsity.toFixed(3)}  ${duration(p.elapsedMs)} elapsed, ${duration(eta)} left`;
}

class Lines implements ProgressSink {
  private every = 0;
  constructor(private readonly out: NodeJS.WritableStream) {}

  update(p: FinetuneProgress): void {
    this.every ||= Math.max(1, Math.ceil(p.totalSteps / 10));
    if (p.step === 1 || p.step % this.every === 0 || p.step === p.totalSteps) {
      const pct = Math.round((100 * p.step) / Math.max(1, p.totalSteps));
      this.out.write(`step ${p.step}/${p.totalSteps} (${pct}%)  ${stats(p)}\n`);
    }
  }

  finish(): void {}
}

class Bar implements ProgressSink {
  private lastDraw = 0;
  /** The progress on screen, if a line is open. */
  private shown: FinetuneProgress | undefined;
  private last: FinetuneProgress | undefined;
  constructor(private readonly out: NodeJS.WritableStream & { columns?: number }) {}

  update(p: FinetuneProgress): void {
    this.last = p;
    const now = Date.now();
    // Redrawing at most ~10 times a second keeps a fast loop from spending its time on the terminal.
    if (now - this.lastDraw < 100 && p.step !== p.totalSteps) return;
    this.lastDraw = now;
    this.draw(p);
  }

  /** Shows the last state if throttling skipped it, and ends the line; safe to call more than once. */
  finish(): void {
    if (this.last !== undefined && this.last !== this.shown) this.draw(this.last);
    if (this.shown !== undefined) this.out.write('\n');
    this.last = undefined;
    this.shown = undefined;
  }

  private draw(p: FinetuneProgress): void {
    const width = 24;
    const frac = Math.min(1, p.step / Math.max(1, p.totalSteps));
    const filled = Math.round(frac * width);
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
    const text = `${bar} ${p.step}/${p.totalSteps}  ${stats(p)}`;
    // A pseudo-terminal may report 0 columns; assume a common width then.
    const columns = this.out.columns !== undefined && this.out.columns > 0 ? this.out.columns : 100;
    // \x1b[K clears what a longer previous line left behind.
    this.out.write(`\r${text.slice(0, Math.max(20, columns - 1))}\x1b[K`);
    this.shown = p;
  }
}
