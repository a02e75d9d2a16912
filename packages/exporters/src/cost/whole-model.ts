import { UsageError, type CostReport, type WholeModel } from '@pg/core';
import type { BitSerialParameters } from './bit-serial.js';
import type { Profile } from './profile.js';
import { costReport, selectProfiles, type CostedNetwork } from './registry.js';
import { bitWidth, layerWork, passes } from './work.js';

/**
 * The whole network's headline figures (`whole_model` of pg report): the share of MACs in gated layers, the
 * MAC-weighted activation and weight bits over every Conv/Gemm layer (as stored, signs included; float operands
 * at the profile's float_bits), and the bit-serial model's cost of the network with its ratios to the
 * reference schemes. Activation bits follow the layer's passes under the model's own scheme, so a layer kind
 * with other passes (a recompute, say) is counted by what it streams.
 */
export function wholeModel(network: CostedNetwork, profile: Profile): WholeModel {
  if (profile.model !== 'bit-serial') throw new UsageError(`whole-model figures come from the bit-serial model, not '${profile.model}'`, { action: 'give a bit-serial profile' });
  const floatBits = (profile.parameters as BitSerialParameters).float_bits;
  const work = network.layers.map(layerWork);
  const macs = work.reduce((s, l) => s + l.macs, 0);
  const perMac = (total: number) => (macs > 0 ? total / macs : null);
  const actBits = work.reduce((s, l) => s + passes(l, 'model').reduce((a, p) => a + p.macs * bitWidth(p.act, floatBits), 0), 0);
  const weightBits = work.reduce((s, l) => s + l.macs * bitWidth(l.weight, floatBits), 0);
  const gatedMacs = work.filter((l) => l.kind === 'gated').reduce((s, l) => s + l.macs, 0);
  const cost = costReport(network, profile);
  return {
    macs,
    gated_mac_fraction: perMac(gatedMacs),
    act_bits: perMac(actBits),
    weight_bits: perMac(weightBits),
    bitops: cost.total,
    bitops_vs_static_b: cost.ratios.vs_static_b,
    bitops_vs_static_8bit: cost.ratios.vs_static_8bit,
    bitops_vs_seernet: cost.ratios.vs_seernet,
    profile: cost.profile,
  };
}

/** What pg report and pg sweep attach to a measured report: the whole-model figures, and `costs` when models were selected. */
export type ReportPricing = (network: CostedNetwork) => { whole_model: WholeModel; costs?: CostReport[] };

/**
 * The pricing of pg report and pg sweep: the whole-model figures on every report, with the bit-serial profile
 * among `profiles` (a --profile file, or the bundled one --cost selected) or else the bundled one, so they
 * agree with `costs[bit-serial]` whenever both are printed; and each selected profile's cost.
 */
export async function reportPricing(profiles: readonly Profile[]): Promise<ReportPricing> {
  const serial = profiles.find((p) => p.model === 'bit-serial') ?? (await selectProfiles('bit-serial', []))[0];
  return (network) => ({ whole_model: wholeModel(network, serial), costs: profiles.length ? profiles.map((p) => costReport(network, p)) : undefined });
}
