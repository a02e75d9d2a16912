import { relative } from 'node:path';
import type { Reporter, TestCase, TestModule } from 'vitest/node';

/**
 * Prints, after the default reporter, how many tests were skipped and why, grouped by reason, and a closing
 * line `tests: N passed, N failed, N skipped`. A skipped test's reason is its `ctx.skip(note)` note, or the
 * `skipped: REASON` (or `(skipped: REASON)` at the end) of its own or a suite's title; tests without one are
 * listed by name under "no reason given".
 */
export default class SkipSummaryReporter implements Reporter {
  private summary = '';

  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = unhandledErrors.length;
    const skipped = new Map<string, TestCase[]>();
    for (const module of modules) {
      let moduleFailures = 0;
      for (const test of module.children.allTests()) {
        const result = test.result();
        if (result.state === 'passed') passed++;
        else if (result.state === 'failed') moduleFailures++;
        else if (result.state === 'skipped') {
          const reason = test.options.mode === 'todo' ? 'todo' : (result.note ?? titleReason(test) ?? NO_REASON);
          skipped.set(reason, [...(skipped.get(reason) ?? []), test]);
        }
      }
      // A file that failed outside its tests (a collection or hook error) counts once.
      failed += moduleFailures > 0 ? moduleFailures : module.state() === 'failed' ? 1 : 0;
    }
    const skippedCount = [...skipped.values()].reduce((n, tests) => n + tests.length, 0);
    const lines = ['', skippedCount === 0 ? 'Skipped: none' : `Skipped ${skippedCount}, by reason:`];
    for (const [reason, tests] of [...skipped].sort((a, b) => b[1].length - a[1].length)) {
      lines.push(`  ${String(tests.length).padStart(4)}  ${reason}`);
      if (reason === NO_REASON) for (const t of tests) lines.push(`          ${fileOf(t)} > ${t.fullName}`);
      else lines.push(`          ${countByFile(tests)}`);
    }
    lines.push('', `tests: ${passed} passed, ${failed} failed, ${skippedCount} skipped`);
    this.summary = lines.join('\n');
  }

  // Printed here, after the default reporter's own summary (vitest calls every onTestRunEnd, then every onFinished).
  onFinished(): void {
    console.log(this.summary);
  }
}

const NO_REASON = 'no reason given (say why in the title: "... (skipped: REASON)")';

/** `skipped: REASON` in the test's title or a suite's, nearest first. */
function titleReason(test: TestCase): string | undefined {
  for (let node: TestCase | TestCase['parent'] = test; node.type !== 'module'; node = node.parent) {
    const m = /\(skipped: (.+)\)$/.exec(node.name) ?? /^skipped: (.+)$/.exec(node.name);
    if (m) return m[1];
  }
  return undefined;
}

function fileOf(test: TestCase): string {
  return relative(process.cwd(), test.module.moduleId);
}

function countByFile(tests: TestCase[]): string {
  const counts = new Map<string, number>();
  for (const t of tests) counts.set(fileOf(t), (counts.get(fileOf(t)) ?? 0) + 1);
  return [...counts].map(([file, n]) => `${file} (${n})`).join(', ');
}
