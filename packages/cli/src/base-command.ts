import { Command, Errors, type Interfaces } from '@oclif/core';
import { initBackend, type BackendName } from '@pg/core';
import { errorEnvelope, renderError, toUsageError, type SuccessEnvelope } from './envelope.js';
import { backendFlag } from './flags.js';

// A command's own flag replaces a global flag of the same name, as in oclif's parser ({...baseFlags, ...flags}):
// pg run and pg export redefine --backend to refuse, naming the right flag, values that belong to another flag there.
export type PgFlags<T extends typeof Command> = Interfaces.InferredFlags<Omit<(typeof BaseCommand)['baseFlags'], keyof T['flags']> & T['flags']>;
export type PgArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>;

/**
 * What every pg command shares: the global --backend flag, the --json envelope, and the mapping of
 * errors to messages and exit codes (docs/exit-codes.md). Subclasses implement run() and return
 * their typed result; oclif prints it as JSON with --json.
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    backend: backendFlag(),
  };

  protected flags!: PgFlags<T>;
  protected args!: PgArgs<T>;
  /** Flags the user gave (not filled in from a default). */
  private given = new Set<string>();
  private readonly warnings: string[] = [];

  public override async init(): Promise<void> {
    await super.init();
    let parsed: Interfaces.ParserOutput;
    try {
      parsed = await this.parse({
        flags: this.ctor.flags,
        baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
        enableJsonFlag: this.ctor.enableJsonFlag,
        args: this.ctor.args,
        strict: this.ctor.strict,
      });
    } catch (e) {
      // Whatever oclif's parser rejects is a usage error: exit 2, not oclif's own codes.
      throw toUsageError(e, this.id ?? '');
    }
    this.flags = parsed.flags as PgFlags<T>;
    this.args = parsed.args as PgArgs<T>;
    const meta = parsed.metadata.flags as Record<string, { setFromDefault?: boolean } | undefined>;
    this.given = new Set(Object.keys(parsed.flags).filter((name) => meta[name]?.setFromDefault !== true));
    await this.initBackend();
  }

  /** Whether the user gave flag `name` (as opposed to its default). */
  protected flagGiven(name: keyof PgFlags<T> & string): boolean {
    return this.given.has(name);
  }

  /** Initialises the TensorFlow.js backend the global --backend flag names; a command that needs none yet overrides this. */
  protected async initBackend(): Promise<void> {
    // Every command's --backend, global or its own, parses to a BackendName (flags.ts backendFlag).
    await initBackend((this.flags as { backend: BackendName }).backend);
  }

  /** Prints a warning on stderr (human mode) and collects it for the JSON envelope. */
  public override warn(input: string | Error): string | Error {
    const text = typeof input === 'string' ? input : input.message;
    this.warnings.push(text);
    if (!this.jsonEnabled()) process.stderr.write(`Warning: ${text}\n`);
    return input;
  }

  /** Human progress and notes go to stderr, so stdout holds only results; silent with --json. */
  protected note(message: string): void {
    if (!this.jsonEnabled()) process.stderr.write(`${message}\n`);
  }

  protected override toSuccessJson(result: unknown): SuccessEnvelope<unknown> {
    return { status: 0, result, warnings: this.warnings };
  }

  /** Plain JSON, one document: scripts parse it, so colour codes must never get in (oclif colours on a TTY). */
  protected override logJson(json: unknown): void {
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  }

  protected override async catch(err: Interfaces.CommandError): Promise<never> {
    // this.exit() inside a command is a deliberate exit with its own code, not a failure to report.
    if (err instanceof Errors.ExitError) throw err;
    const envelope = errorEnvelope(err, this.warnings);
    if (this.jsonEnabled()) {
      this.logJson(envelope);
    } else {
      process.stderr.write(`${renderError(envelope)}\n`);
    }
    if (process.env.PG_DEBUG === '1' && err.stack !== undefined) process.stderr.write(`${debugStack(err)}\n`);
    // ExitError makes oclif exit with our code without printing anything more.
    this.exit(envelope.status);
  }
}

/** The stack, followed by the causes' stacks: a PgError often wraps the fs or protobuf error that caused it. */
function debugStack(err: Error): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && depth < 5; depth++) {
    parts.push(depth === 0 ? (e.stack ?? e.message) : `Caused by: ${e.stack ?? e.message}`);
    e = e.cause;
  }
  return parts.join('\n');
}
