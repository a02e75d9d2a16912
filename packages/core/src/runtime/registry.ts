import type { Kernel, KernelEntry } from './kernel.js';

/**
 * Op kernels by (domain, op type). The runtime's ONNX ops register into the default registry at import;
 * other modules (pg's gated ops) add theirs, so the runtime never depends on them.
 */
export class OpRegistry {
  private readonly entries = new Map<string, KernelEntry>();

  register(opType: string, kernel: Kernel, opts: { domain?: string; minOpset?: number; maxOpset?: number } = {}): void {
    this.entries.set(key(opts.domain ?? '', opType), {
      kernel,
      minOpset: opts.minOpset ?? 1,
      maxOpset: opts.maxOpset ?? Number.MAX_SAFE_INTEGER,
    });
  }

  get(domain: string, opType: string): KernelEntry | undefined {
    return this.entries.get(key(normaliseDomain(domain), opType));
  }

  /** Registered ops of a domain, sorted; for docs and `pg inspect`. */
  ops(domain = ''): string[] {
    const prefix = `${domain}::`;
    return [...this.entries.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length)).sort();
  }
}

export function normaliseDomain(domain: string): string {
  return domain === 'ai.onnx' ? '' : domain;
}

function key(domain: string, opType: string): string {
  return `${domain}::${opType}`;
}

export const defaultRegistry = new OpRegistry();
