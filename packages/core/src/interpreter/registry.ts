import type { OpVersions } from '../graph/op-versions.js';
import type { Kernel } from './kernel.js';
import { declarationName, type CostClass, type OpDeclaration } from './op-declaration.js';

/** A declaration with its domain normalised ('' for the default ONNX domain). */
export type RegisteredOp = OpDeclaration & { readonly domain: string };

/**
 * Op declarations by (domain, op type), each op's forms in ascending opset. Built from lists of
 * declarations (the interpreter's ONNX ops, pg's ops: see gating/op-registry.ts, the composition root); it refuses
 * a form declared twice, so two lists can never silently replace each other's kernels.
 */
export class OpRegistry implements OpVersions {
  private readonly forms = new Map<string, RegisteredOp[]>();

  constructor(declarations: Iterable<OpDeclaration> = []) {
    for (const d of declarations) this.register(d);
  }

  /** Adds one form of an op; throws, naming it, when that form is already registered or disagrees with its siblings. */
  register(declaration: OpDeclaration): void {
    const d: RegisteredOp = { ...declaration, domain: normaliseDomain(declaration.domain ?? '') };
    const k = key(d.domain, d.op);
    const forms = this.forms.get(k) ?? [];
    const fail = (why: string): never => {
      throw new Error(`op registry: ${declarationName(d)} ${why}`);
    };
    if (!Number.isInteger(d.since) || d.since < 1) fail(`has an invalid opset ${d.since}`);
    if (forms.some((f) => f.since === d.since)) fail('is already registered (an op form may be declared once)');
    if (forms.length > 0 && forms[0].cost !== d.cost) fail(`has cost class '${d.cost}', its other forms '${forms[0].cost}'`);
    const sorted = [...forms, d].sort((a, b) => a.since - b.since);
    sorted.forEach((f, i) => {
      if (f.until === undefined) return;
      if (f.until < f.since) fail(`ends (${f.until}) before it starts`);
      if (i < sorted.length - 1) fail(`comes with ${declarationName(f)}, which ends at ${f.until}: only the last form of an op may end`);
    });
    this.forms.set(k, sorted);
  }

  /** The form of an op that runs nodes at `opset` of its domain, or undefined when pg does not claim it there. */
  find(domain: string, opType: string, opset: number): RegisteredOp | undefined {
    const forms = this.forms.get(key(normaliseDomain(domain), opType));
    if (!forms) return undefined;
    let found: RegisteredOp | undefined;
    for (const f of forms) if (f.since <= opset) found = f;
    return found && (found.until === undefined || opset <= found.until) ? found : undefined;
  }

  /** Whether any form of the op is registered. */
  has(domain: string, opType: string): boolean {
    return this.forms.has(key(normaliseDomain(domain), opType));
  }

  /** The op's forms in ascending opset (OpVersions, for the opset upgrade pass). */
  versions(domain: string, opType: string): readonly RegisteredOp[] | undefined {
    return this.forms.get(key(normaliseDomain(domain), opType));
  }

  /** The opsets of the domain in which pg runs the op: from its first form on, to its last's `until` (Infinity when open). */
  opsetRange(domain: string, opType: string): { min: number; max: number } | undefined {
    const forms = this.versions(domain, opType);
    if (!forms) return undefined;
    return { min: forms[0].since, max: forms[forms.length - 1].until ?? Infinity };
  }

  /** How the op's nodes are counted (metrics/other-ops.ts); undefined for an op not registered. */
  cost(domain: string, opType: string): CostClass | undefined {
    return this.versions(domain, opType)?.[0].cost;
  }

  /**
   * Whether a node of the op means the same at opsets `a` and `b` of its domain: the same form runs it at
   * both. (A neutral fact: the standard-ONNX export reads it to relabel a model's opset.)
   */
  sameMeaning(domain: string, opType: string, a: number, b: number): boolean {
    const form = this.find(domain, opType, a);
    return form !== undefined && form === this.find(domain, opType, b);
  }

  /** Registered ops of a domain, sorted; for docs, error messages and `pg inspect`. */
  ops(domain = ''): string[] {
    const prefix = `${normaliseDomain(domain)}::`;
    return [...this.forms.keys()]
      .filter((k) => k.startsWith(prefix))
      .map((k) => k.slice(prefix.length))
      .sort();
  }

  /** Every registered form, by op then opset. */
  declarations(): RegisteredOp[] {
    return [...this.forms.values()].flat();
  }

  /** A registry of the same forms with each kernel replaced by `wrap(form)` (counting or timing calls, in tests and benches). */
  withKernels(wrap: (form: RegisteredOp) => Kernel): OpRegistry {
    return new OpRegistry(this.declarations().map((d) => ({ ...d, kernel: wrap(d) })));
  }
}

/** An opset range as 'N..M', or 'N+' when open-ended. */
export function formatRange(range: { min: number; max: number }): string {
  return range.max === Infinity ? `${range.min}+` : `${range.min}..${range.max}`;
}

export function normaliseDomain(domain: string): string {
  return domain === 'ai.onnx' ? '' : domain;
}

function key(domain: string, opType: string): string {
  return `${domain}::${opType}`;
}
