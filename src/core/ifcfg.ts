import { AgentError } from './errors.js';
import { isIpv4, isPrefix } from './ipv4.js';
import { assertRenderable } from './netplan.js';
import { renderHeader } from './ownership.js';
import type { NicConfig } from './types.js';

/**
 * RHEL/CentOS 7–8: one `ifcfg-multinicN` file per NIC, with exactly the seed's keys. These files are
 * sourced by shell scripts (initscripts, network-scripts) as well as read by NetworkManager's ifcfg-rh
 * plugin, so every value is checked against a set of characters that mean nothing to a shell and is
 * written in double quotes: a value can never add a line, a variable or a command.
 */
export const IFCFG_DIR = '/etc/sysconfig/network-scripts';
const FILE_RE = /^ifcfg-(multinic[0-9])$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
/** Characters with no meaning to a shell, inside or outside double quotes. */
const SAFE_VALUE_RE = /^[A-Za-z0-9._:-]+$/;
const MTU_RE = /^[0-9]{1,6}$/;

/** `/etc/sysconfig/network-scripts/ifcfg-multinicN` for `multinicN` (SPEC §5). */
export function ifcfgPath(name: string): string {
  return `${IFCFG_DIR}/ifcfg-${name}`;
}

/** The `multinicN` name of an agent file name, or null when the name is not one the agent writes. */
export function nameOfIfcfgFile(fileName: string): string | null {
  return FILE_RE.exec(fileName)?.[1] ?? null;
}

/** `KEY="value"`, refusing any value a shell would read as more than plain text. */
function assignment(key: string, value: string): string {
  if (!SAFE_VALUE_RE.test(value)) {
    throw new AgentError('render', `refusing to render ${key}: unsafe characters`, { fields: [key] });
  }
  return `${key}="${value}"`;
}

/** The seed's ifcfg format, behind the ownership header naming row `rowId`. */
export function renderIfcfg(config: NicConfig, rowId: number): string {
  assertRenderable(config);
  const pairs: [string, string][] = [
    ['DEVICE', config.name],
    ['NAME', config.name],
    ['TYPE', 'Ethernet'],
    ['ONBOOT', 'yes'],
    ['BOOTPROTO', 'none'],
  ];
  if (config.address !== null) {
    pairs.push(['IPADDR', config.address.ip], ['PREFIX', String(config.address.prefix)]);
  }
  pairs.push(['MTU', String(config.mtu)], ['HWADDR', config.mac]);
  return `${renderHeader(rowId)}${pairs.map(([key, value]) => assignment(key, value)).join('\n')}\n`;
}

const KEYS = new Set(['DEVICE', 'NAME', 'TYPE', 'ONBOOT', 'BOOTPROTO', 'IPADDR', 'PREFIX', 'MTU', 'HWADDR']);
const LINE_RE = /^([A-Z][A-Z0-9_]*)=(.*)$/;
const VALUE_RE = /^"([A-Za-z0-9._:-]*)"$|^'([A-Za-z0-9._:-]*)'$|^([A-Za-z0-9._:-]*)$/;

/**
 * The variables of an ifcfg file, or null when a line is anything but a comment, a blank line or a
 * plain `KEY=value` assignment of one of the seed's keys (quoted or not) without shell syntax.
 */
function readAssignments(content: string): Map<string, string> | null {
  const values = new Map<string, string>();
  for (const line of content.split('\n')) {
    const text = line.trim();
    if (text === '' || text.startsWith('#')) continue;
    const match = LINE_RE.exec(text);
    if (match === null) return null;
    const [, key = '', raw = ''] = match;
    const value = VALUE_RE.exec(raw);
    if (!KEYS.has(key) || values.has(key) || value === null) return null;
    values.set(key, value[1] ?? value[2] ?? value[3] ?? '');
  }
  return values;
}

/**
 * Reads back one of the agent's own files. Returns null for anything not in the shape the agent writes
 * (another key, another TYPE/ONBOOT/BOOTPROTO, an address without prefix, shell syntax): the planner
 * then rewrites it. A hand-edited value is read as that value, so it shows up as a drift.
 */
export function parseIfcfg(content: string): NicConfig | null {
  const v = readAssignments(content);
  if (v === null) return null;
  const name = v.get('DEVICE');
  const mac = v.get('HWADDR')?.toLowerCase();
  const mtu = v.get('MTU');
  const ip = v.get('IPADDR');
  const prefix = v.get('PREFIX');
  if (name === undefined || v.get('NAME') !== name) return null;
  if (v.get('TYPE') !== 'Ethernet' || v.get('ONBOOT') !== 'yes' || v.get('BOOTPROTO') !== 'none') return null;
  if (mac === undefined || !MAC_RE.test(mac) || mtu === undefined || !MTU_RE.test(mtu)) return null;
  if ((ip === undefined) !== (prefix === undefined)) return null;
  if (ip === undefined || prefix === undefined) return { name, mac, address: null, mtu: Number(mtu) };
  if (!isIpv4(ip) || !isPrefix(prefix)) return null;
  return { name, mac, address: { ip, prefix: Number(prefix) }, mtu: Number(mtu) };
}
