/**
 * Appended to the title of a test or suite that may skip: ` (skipped: REASON)` when it does, else nothing.
 * The run's skip summary (test-setup/skip-summary.ts) groups skipped tests by that reason.
 */
export const skipNote = (runs: boolean, reason: string): string => (runs ? '' : ` (skipped: ${reason})`);
