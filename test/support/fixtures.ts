import { renderNetplan, netplanPath, parseNetplan } from '../../src/core/netplan.js';
import { readOwnership } from '../../src/core/ownership.js';
import type { InterfaceRow, LiveLink, NicConfig, Observed, OwnedFile } from '../../src/core/types.js';

/** MAC of the n-th test NIC (fa:16:3e is OpenStack's prefix). */
export function macOf(n: number): string {
  return `fa:16:3e:00:00:${n.toString(16).padStart(2, '0')}`;
}

export function rowOf(n: number, overrides: Partial<InterfaceRow> = {}): InterfaceRow {
  return {
    id: n + 1,
    port_id: `port-${n}`,
    subnet_id: `subnet-${n}`,
    macaddress: macOf(n),
    attached_node_name: 'worker-1',
    netplan_success: 1,
    address: `10.0.${n}.10`,
    cidr: `10.0.${n}.0/24`,
    mtu: 1500,
    ...overrides,
  };
}

export function configOf(n: number, overrides: Partial<NicConfig> = {}): NicConfig {
  return {
    name: `multinic${n}`,
    mac: macOf(n),
    address: { ip: `10.0.${n}.10`, prefix: 24 },
    mtu: 1500,
    ...overrides,
  };
}

/** The row id rowOf(n) gives the NIC configOf(n) names `multinic<n>`: n + 1. */
export function rowIdOf(name: string): number {
  return Number(name.slice('multinic'.length)) + 1;
}

/** An owned file as the agent writes it now (format 2, naming its row). */
export function ownedFile(config: NicConfig, name = config.name, rowId = rowIdOf(name)): OwnedFile {
  const content = renderNetplan(config, rowId);
  const owner = readOwnership(content) ?? { format: 0, rowId: null };
  return { path: netplanPath(name), name, config: parseNetplan(content), content, ...owner };
}

export function linkOf(config: NicConfig, overrides: Partial<LiveLink> = {}): LiveLink {
  return {
    name: config.name,
    mac: config.mac,
    mtu: config.mtu,
    ipv4: config.address === null ? [] : [config.address],
    ...overrides,
  };
}

/** A host where NICs 0..count-1 are configured exactly as rowOf(n) asks: the planner must return nothing. */
export function inSync(count: number): { rows: InterfaceRow[]; observed: Observed } {
  const configs = Array.from({ length: count }, (_, n) => configOf(n));
  return {
    rows: configs.map((_, n) => rowOf(n)),
    observed: {
      files: configs.map((config) => ownedFile(config)),
      links: [
        { name: 'eth0', mac: 'fa:16:3e:ff:ff:00', mtu: 1500, ipv4: [{ ip: '192.168.0.5', prefix: 24 }] },
        ...configs.map((config) => linkOf(config)),
      ],
      protectedNames: ['eth0'],
      orphanCandidates: [],
      reservedNames: [],
      others: [],
    },
  };
}
