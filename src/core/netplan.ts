import { parse as parseYaml } from 'yaml';
import { AgentError } from './errors.js';
import { formatCidr, isIpv4, parseCidr } from './ipv4.js';
import { isManagedName } from './naming.js';
import { renderHeader } from './ownership.js';
import type { NicConfig } from './types.js';
import { MTU_MAX, MTU_MIN } from './validate.js';

export const NETPLAN_DIR = '/etc/netplan';
const FILE_RE = /^9([0-9])-multinic\1\.yaml$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** `/etc/netplan/9N-multinicN.yaml` for `multinicN` (SPEC §5). */
export function netplanPath(name: string): string {
  const n = name.slice('multinic'.length);
  return `${NETPLAN_DIR}/9${n}-${name}.yaml`;
}

/** The `multinicN` name of an agent file name, or null when the name is not one the agent writes. */
export function nameOfNetplanFile(fileName: string): string | null {
  const match = FILE_RE.exec(fileName);
  return match === null ? null : `multinic${match[1]}`;
}

/**
 * Refuses any value that could change the file's structure. Rows are validated before they get here;
 * this is the renderer's own guard, so a bug upstream cannot write a bad file. Shared by every format.
 */
export function assertRenderable(config: NicConfig): void {
  const problems: string[] = [];
  if (!isManagedName(config.name)) problems.push('name');
  if (!MAC_RE.test(config.mac)) problems.push('mac');
  if (
    config.address !== null &&
    (!isIpv4(config.address.ip) || parseCidr(formatCidr(config.address)) === null)
  ) {
    problems.push('address');
  }
  if (!Number.isInteger(config.mtu) || config.mtu < MTU_MIN || config.mtu > MTU_MAX) problems.push('mtu');
  if (problems.length > 0) {
    throw new AgentError('render', `refusing to render ${problems.join(', ')}`, { fields: problems });
  }
}

/** The seed's netplan format, one file per NIC, behind the ownership header naming row `rowId`. */
export function renderNetplan(config: NicConfig, rowId: number): string {
  assertRenderable(config);
  const lines = [
    'network:',
    '  version: 2',
    '  ethernets:',
    `    ${config.name}:`,
    '      match:',
    `        macaddress: "${config.mac}"`,
    `      set-name: ${config.name}`,
  ];
  if (config.address !== null) lines.push(`      addresses: ["${formatCidr(config.address)}"]`);
  lines.push(`      mtu: ${config.mtu}`);
  return `${renderHeader(rowId)}${lines.join('\n')}\n`;
}

function field(record: unknown, key: string): unknown {
  return typeof record === 'object' && record !== null ? (record as Record<string, unknown>)[key] : undefined;
}

/**
 * Reads back one of the agent's own files. Returns null for anything not in the exact shape the agent
 * writes (hand edits that add keys, several addresses, bad YAML): the planner then rewrites it.
 */
export function parseNetplan(content: string): NicConfig | null {
  let doc: unknown;
  try {
    doc = parseYaml(content);
  } catch {
    return null;
  }
  const ethernets = field(field(doc, 'network'), 'ethernets');
  if (field(field(doc, 'network'), 'version') !== 2) return null;
  if (typeof ethernets !== 'object' || ethernets === null || Object.keys(ethernets).length !== 1) return null;
  const [key, entry] = Object.entries(ethernets as Record<string, unknown>)[0] ?? [];
  if (typeof entry !== 'object' || entry === null) return null;
  if (Object.keys(entry).some((k) => !ENTRY_KEYS.has(k))) return null;
  const mac = field(field(entry, 'match'), 'macaddress');
  const setName = field(entry, 'set-name');
  const addresses = field(entry, 'addresses') ?? [];
  const mtu = field(entry, 'mtu');
  if (typeof mac !== 'string' || typeof setName !== 'string' || typeof mtu !== 'number') return null;
  // The entry key and set-name must agree; either differing from the file's own name is a 'name' drift.
  if (key !== setName) return null;
  if (!Array.isArray(addresses) || addresses.length > 1) return null;
  const first: unknown = addresses[0];
  const address = typeof first === 'string' ? parseCidr(first) : null;
  if (first !== undefined && address === null) return null;
  return { name: setName, mac: mac.toLowerCase(), address, mtu };
}

const ENTRY_KEYS = new Set(['match', 'set-name', 'addresses', 'mtu']);
