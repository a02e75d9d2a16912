export interface Interrupt {
  readonly signal: AbortSignal;
  /** The signal that stopped the run, if one did. */
  readonly received: NodeJS.Signals | undefined;
  dispose(): void;
}

/**
 * Turns the first SIGINT/SIGTERM into an abort, so a long run can stop at a step boundary and save
 * what it has; a second one quits at once (exit 130) for a user who does not want to wait.
 */
export function listenForInterrupt(onFirst: (sig: NodeJS.Signals) => void): Interrupt {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const handler = (sig: NodeJS.Signals): void => {
    if (received !== undefined) process.exit(130);
    received = sig;
    controller.abort(sig);
    onFirst(sig);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    get received() {
      return received;
    },
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
