import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium (`apt-get install chromium`; .ci/run installs it). playwright-core downloads no browser. */
export const CHROMIUM = process.env.PG_CHROMIUM ?? '/usr/bin/chromium';

export const hasChromium = (): boolean => existsSync(CHROMIUM);
/** Appended to a title: ` (skipped: ...)` without Chromium (the run's skip summary groups by it). */
export const chromiumSkipNote = (): string => (hasChromium() ? '' : ` (skipped: no Chromium at ${CHROMIUM}: apt-get install chromium, or set PG_CHROMIUM)`);

/** Headless Chromium; --no-sandbox because CI runs tests as root, where Chromium's sandbox refuses to start. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}
