import { AgentError } from './errors.js';
import { formatCidr, parseCidr } from './ipv4.js';
import { assertRenderable } from './netplan.js';
import { renderHeader } from './ownership.js';
import type { NicConfig } from './types.js';

/**
 * RHEL 9+ (ifcfg is deprecated there): one NetworkManager keyfile per NIC, matched by MAC, manual IPv4
 * (or none, link only), its MTU, IPv6 disabled. Keyfile values are the rest of their line, with
 * backslash escapes: every value is checked against a set of characters that need no escaping, so a
 * value can never add a line, a key or a group.
 */
export const KEYFILE_DIR = '/etc/NetworkManager/system-connections';
const FILE_RE = /^(multinic[0-9])\.nmconnection$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const SAFE_VALUE_RE = /^[A-Za-z0-9._:/-]+$/;
const MTU_RE = /^[0-9]{1,6}$/;

/** `/etc/NetworkManager/system-connections/multinicN.nmconnection` for `multinicN` (SPEC §5). */
export function keyfilePath(name: string): string {
  return `${KEYFILE_DIR}/${name}.nmconnection`;
}

/** The `multinicN` name of an agent file name, or null when the name is not one the agent writes. */
export function nameOfKeyfile(fileName: string): string | null {
  return FILE_RE.exec(fileName)?.[1] ?? null;
}

function entry(key: string, value: string): string {
  if (!SAFE_VALUE_RE.test(value)) {
    throw new AgentError('render', `refusing to render ${key}: unsafe characters`, { fields: [key] });
  }
  return `${key}=${value}`;
}

/** The connection profile of one NIC, behind the ownership header naming row `rowId` (comments). */
export function renderKeyfile(config: NicConfig, rowId: number): string {
  assertRenderable(config);
  const ipv4 =
    config.address === null
      ? [entry('method', 'disabled')]
      : [entry('method', 'manual'), entry('address1', formatCidr(config.address))];
  const lines = [
    '[connection]',
    entry('id', config.name),
    entry('type', 'ethernet'),
    entry('interface-name', config.name),
    entry('autoconnect', 'true'),
    '',
    '[ethernet]',
    entry('mac-address', config.mac),
    entry('mtu', String(config.mtu)),
    '',
    '[ipv4]',
    ...ipv4,
    '',
    '[ipv6]',
    entry('method', 'disabled'),
  ];
  return `${renderHeader(rowId)}${lines.join('\n')}\n`;
}

export type KeyfileGroups = Map<string, Map<string, string>>;

const GROUP_RE = /^\[([^[\]]+)\]$/;
const KEY_RE = /^([A-Za-z0-9_.-]+)\s*=\s*(.*)$/;

/**
 * The groups and keys of a keyfile (GLib key-file syntax: `[group]`, `key=value`, `#` comments), values
 * as written. Null when a line is none of those, or a group or a key repeats.
 */
export function readKeyfile(content: string): KeyfileGroups | null {
  const groups: KeyfileGroups = new Map();
  let current: Map<string, string> | null = null;
  for (const line of content.split('\n')) {
    const text = line.trim();
    if (text === '' || text.startsWith('#')) continue;
    const group = GROUP_RE.exec(text);
    if (group !== null) {
      const name = group[1] ?? '';
      if (groups.has(name)) return null;
      current = new Map();
      groups.set(name, current);
      continue;
    }
    const pair = KEY_RE.exec(text);
    if (pair === null || current === null) return null;
    const [, key = '', value = ''] = pair;
    if (current.has(key)) return null;
    current.set(key, value);
  }
  return groups;
}

const SHAPE: Record<string, readonly string[]> = {
  connection: ['id', 'type', 'interface-name', 'autoconnect'],
  ethernet: ['mac-address', 'mtu'],
  ipv4: ['method', 'address1'],
  ipv6: ['method'],
};

/** Exactly the agent's groups and keys (address1 optional), every value free of escapes. */
function hasAgentShape(groups: KeyfileGroups): boolean {
  if (groups.size !== Object.keys(SHAPE).length) return false;
  for (const [group, keys] of groups) {
    const allowed = SHAPE[group];
    if (allowed === undefined) return false;
    for (const [key, value] of keys) {
      if (!allowed.includes(key) || !SAFE_VALUE_RE.test(value)) return false;
    }
  }
  return true;
}

/**
 * Reads back one of the agent's own files. Returns null for anything not in the shape the agent writes
 * (another key or group, id and interface-name differing, DHCP, IPv6): the planner then rewrites it. A
 * hand-edited value is read as that value, so it shows up as a drift.
 */
export function parseKeyfile(content: string): NicConfig | null {
  const groups = readKeyfile(content);
  if (groups === null || !hasAgentShape(groups)) return null;
  const get = (group: string, key: string) => groups.get(group)?.get(key);
  const name = get('connection', 'id');
  const mac = get('ethernet', 'mac-address')?.toLowerCase();
  const mtu = get('ethernet', 'mtu');
  if (name === undefined || get('connection', 'interface-name') !== name) return null;
  if (get('connection', 'type') !== 'ethernet' || get('connection', 'autoconnect') !== 'true') return null;
  if (get('ipv6', 'method') !== 'disabled') return null;
  if (mac === undefined || !MAC_RE.test(mac) || mtu === undefined || !MTU_RE.test(mtu)) return null;
  const method = get('ipv4', 'method');
  const address1 = get('ipv4', 'address1');
  if (method === 'disabled' && address1 === undefined) return { name, mac, address: null, mtu: Number(mtu) };
  const address = method === 'manual' && address1 !== undefined ? parseCidr(address1) : null;
  return address === null ? null : { name, mac, address, mtu: Number(mtu) };
}

/** What a keyfile tells NetworkManager about a NIC, with NetworkManager's defaults filled in. */
export interface KeyfileMeaning {
  id: string | null;
  type: string | null;
  interfaceName: string | null;
  autoconnect: boolean;
  mac: string | null;
  mtu: number;
  ipv4Method: string | null;
  ipv4Addresses: string[];
  ipv6Method: string | null;
}

/**
 * The settings of any keyfile that decide what the agent configures, read the way NetworkManager reads
 * them (MAC in any case, autoconnect and MTU defaulting to true and 0, addresses in address1, address2,
 * …). Comparing the meaning of a rendered file with that of `nmcli --offline`'s rewrite of it shows
 * whether NetworkManager understood the file as intended. Null when it is not a keyfile at all.
 */
export function keyfileMeaning(content: string): KeyfileMeaning | null {
  const groups = readKeyfile(content);
  if (groups === null) return null;
  const get = (group: string, key: string) => groups.get(group)?.get(key) ?? null;
  const addresses = [...(groups.get('ipv4') ?? new Map<string, string>())]
    .filter(([key]) => /^address[0-9]+$/.test(key))
    .sort(([a], [b]) => Number(a.slice(7)) - Number(b.slice(7)))
    .map(([, value]) => value);
  return {
    id: get('connection', 'id'),
    type: get('connection', 'type'),
    interfaceName: get('connection', 'interface-name'),
    autoconnect: (get('connection', 'autoconnect') ?? 'true') === 'true',
    mac: get('ethernet', 'mac-address')?.toLowerCase() ?? null,
    mtu: Number(get('ethernet', 'mtu') ?? '0'),
    ipv4Method: get('ipv4', 'method'),
    ipv4Addresses: addresses,
    ipv6Method: get('ipv6', 'method'),
  };
}
