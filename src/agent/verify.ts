import { formatCidr, sameCidr } from '../core/ipv4.js';
import type { LiveLink, NicConfig } from '../core/types.js';
import type { AddressTool } from '../host/addresses.js';

export interface VerifyDeps {
  readLinks(): Promise<LiveLink[]>;
  addresses: AddressTool;
  sleep(ms: number): Promise<void>;
  now(): number;
  timeoutMs: number;
  intervalMs: number;
}

/** Why a live link does not (yet) match its configuration; null when it does. */
export function mismatch(config: NicConfig, links: readonly LiveLink[]): string | null {
  const link = links.find((candidate) => candidate.mac === config.mac);
  if (link === undefined) return `no interface with MAC ${config.mac}`;
  if (link.name !== config.name)
    return `interface with MAC ${config.mac} is named ${link.name}, not ${config.name}`;
  if (link.mtu !== config.mtu) return `${config.name} has MTU ${link.mtu}, expected ${config.mtu}`;
  const live = link.ipv4.map(formatCidr).join(', ') || 'none';
  const want = config.address === null ? 'none' : formatCidr(config.address);
  if (live !== want) return `${config.name} has IPv4 ${live}, expected ${want}`;
  return null;
}

/**
 * Waits until every link matches its configuration, for a bounded time. On the way it deletes the
 * addresses the daemon left behind (networkd keeps an address that left the configuration), but only on
 * a link that already carries its name, MTU and desired address, so a slow daemon or a failing change
 * never leaves a NIC with no address.
 * Returns the mismatch of every link that did not converge, by name.
 */
export async function converge(
  deps: VerifyDeps,
  configs: readonly NicConfig[],
): Promise<Map<string, string>> {
  const deadline = deps.now() + deps.timeoutMs;
  for (;;) {
    const links = await deps.readLinks();
    const pending = new Map<string, string>();
    for (const config of configs) {
      const problem = mismatch(config, links);
      if (problem === null) continue;
      pending.set(config.name, problem);
      await dropStaleAddresses(deps.addresses, config, links);
    }
    if (pending.size === 0 || deps.now() >= deadline) return pending;
    await deps.sleep(deps.intervalMs);
  }
}

async function dropStaleAddresses(
  tool: AddressTool,
  config: NicConfig,
  links: readonly LiveLink[],
): Promise<void> {
  // Only once the rest of the configuration holds: a change that is going to be rolled back must not
  // cost the NIC its working address in the meantime.
  const link = links.find((candidate) => candidate.mac === config.mac && candidate.name === config.name);
  if (link === undefined || link.mtu !== config.mtu) return;
  const hasDesired = config.address === null || link.ipv4.some((a) => sameCidr(a, config.address));
  if (!hasDesired) return;
  for (const address of link.ipv4) {
    if (sameCidr(address, config.address)) continue;
    // A failed delete leaves the mismatch in place; verification reports it.
    await tool.remove(link.name, address).catch(() => undefined);
  }
}
