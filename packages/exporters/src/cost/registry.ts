import { UsageError, type CostReport, type LayerReport, type OtherOpCount } from '@pg/core';
import { bitFusion } from './bit-fusion.js';
import { bitSerial } from './bit-serial.js';
import type { CostModel, Parameters } from './cost-model.js';
import { cpuInt8 } from './cpu-int8.js';
import { gpu } from './gpu.js';
import { bundledProfilePath, readProfile, type Profile } from './profile.js';
import { layerWork, passes, type LayerWork, type Scheme } from './work.js';

/** Every cost model, in the order reports list them. */
// Each model is typed by its own parameters; the registry holds them by the common shape, and a profile
// validated against a model's own parameter spec is what reaches it, so the widening is safe.
export const COST_MODELS: ReadonlyMap<string, CostModel> = new Map(([bitSerial, bitFusion, gpu, cpuInt8] as unknown as CostModel[]).map((m) => [m.name, m]));

function layerCost(model: CostModel, p: Parameters, l: LayerWork, scheme: Scheme): number {
  const ps = model.layerPasses ? model.layerPasses(l, scheme) : passes(l, scheme);
  return ps.reduce((sum, pass) => sum + model.passCost(pass, p), 0);
}

/** What a cost model prices: the report's Conv/Gemm layers and its other ops (absent in reports from before they were counted). */
export interface CostedNetwork {
  layers: readonly LayerReport[];
  other_ops?: readonly OtherOpCount[];
}

/**
 * The cost of the reported network on one device, with the reference schemes priced the same way: the
 * layers' passes of each scheme plus the other ops, which cost the same in every scheme.
 */
export function costReport(network: CostedNetwork, profile: Profile): CostReport {
  const { layers } = network;
  const model = COST_MODELS.get(profile.model);
  if (!model) throw new UsageError(`unknown cost model '${profile.model}'`, { action: `use one of ${[...COST_MODELS.keys()].join(', ')}` });
  const work = layers.map(layerWork);
  const p = profile.parameters;
  const otherOps = (network.other_ops ?? []).reduce((s, o) => s + o.ops, 0);
  const other_ops = { ops: otherOps, cost: otherOps > 0 ? model.otherOpsCost(otherOps, p) : 0 };
  const sum = (scheme: Scheme) => work.reduce((s, l) => s + layerCost(model, p, l, scheme), other_ops.cost);
  const per_layer = work.map((l) => ({ name: l.name, cost: layerCost(model, p, l, 'model') }));
  const total = per_layer.reduce((s, l) => s + l.cost, other_ops.cost);
  const baselines = { static_b: sum('static_b'), static_8bit: sum('static_8bit'), seernet: sum('seernet') };
  const ratio = (b: number) => (b > 0 ? total / b : 0);
  const notes = model.notes(work, p);
  if (!work.some((l) => l.kind === 'gated')) notes.push('the model has no gated layers: static_b and seernet equal its own cost.');
  notes.push(
    network.other_ops === undefined
      ? 'only Conv/Gemm layers are counted: this report has no count of the other ops (pooling, additions, activations).'
      : `other ops (pooling, additions, activations...): ${otherOps} operations per sample, ${fraction(other_ops.cost, total)} of the total, the same in every scheme.`,
  );
  return {
    backend: model.name,
    unit: model.unit,
    total,
    per_layer,
    other_ops,
    baselines,
    ratios: { vs_static_b: ratio(baselines.static_b), vs_static_8bit: ratio(baselines.static_8bit), vs_seernet: ratio(baselines.seernet) },
    profile: profile.source,
    notes,
  };
}

/** A share as a percentage with up to three significant digits. */
function fraction(part: number, whole: number): string {
  return whole > 0 ? `${Number(((100 * part) / whole).toPrecision(3))}%` : '0%';
}

/**
 * The profiles `--cost` and `--profile` select: `all` or a comma list of model names, each with its bundled
 * profile unless a --profile file is given for that model; a --profile file also selects its model.
 */
export async function selectProfiles(cost: string | undefined, profileFiles: readonly string[]): Promise<Profile[]> {
  const own = new Map<string, Profile>();
  for (const file of profileFiles) {
    const p = await readProfile(file, COST_MODELS);
    const twice = own.get(p.model);
    if (twice) throw new UsageError(`--profile: ${twice.source} and ${file} are both profiles of the ${p.model} model`, { action: 'give one profile per cost model' });
    own.set(p.model, p);
  }
  const names = new Set<string>();
  if (cost !== undefined) {
    const asked = cost
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (!asked.length) throw new UsageError('--cost: no cost model named', { action: `use all, or one or more of ${[...COST_MODELS.keys()].join(', ')} separated by commas` });
    for (const name of asked) {
      if (name === 'all') for (const m of COST_MODELS.keys()) names.add(m);
      else if (COST_MODELS.has(name)) names.add(name);
      else throw new UsageError(`--cost: unknown cost model '${name}'`, { action: `use all, or one or more of ${[...COST_MODELS.keys()].join(', ')} separated by commas` });
    }
  }
  for (const m of own.keys()) names.add(m);
  const out: Profile[] = [];
  // Registry order, so reports list backends the same way whatever order the flag gave.
  for (const m of COST_MODELS.keys()) {
    if (!names.has(m)) continue;
    out.push(own.get(m) ?? (await readProfile(bundledProfilePath(m), COST_MODELS, `bundled:${m}`)));
  }
  return out;
}
