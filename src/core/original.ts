/**
 * The files the original Go multinic-agent leaves on a node, read in their exact shape so that they can be
 * taken over (SPEC §5 "Takeover"). Anything else at the agent's paths is foreign: never rewritten, never
 * deleted. Each reader returns the configuration, or the reason the file is not in the original's shape.
 */
import { parse as parseYaml } from 'yaml';
import { parseIfcfg } from './ifcfg.js';
import { parseCidr } from './ipv4.js';
import type { NicConfig } from './types.js';
import { MTU_MAX, MTU_MIN } from './validate.js';

export type OriginalRead = { ok: true; config: NicConfig } | { ok: false; reason: string };

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const ANY_MAC_RE = /[0-9a-f]{2}(?:[:-][0-9a-f]{2}){5}/gi;
const NETPLAN_ENTRY_KEYS = new Set(['match', 'set-name', 'addresses', 'dhcp4', 'mtu']);
const IFCFG_LINE_RE = /^([A-Z]+)=([A-Za-z0-9._:-]+)$/;
const IFCFG_KEYS = ['DEVICE', 'NAME', 'TYPE', 'ONBOOT', 'BOOTPROTO', 'IPADDR', 'PREFIX', 'MTU', 'HWADDR'];

function not(reason: string): OriginalRead {
  return { ok: false, reason: `not in the original agent's shape: ${reason}` };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function keysAre(record: Record<string, unknown>, keys: readonly string[]): boolean {
  const found = Object.keys(record).sort();
  return found.length === keys.length && [...keys].sort().every((key, i) => found[i] === key);
}

/** MACs a file mentions anywhere, lower case with colons. */
export function macsIn(content: string): string[] {
  const found = content.match(ANY_MAC_RE) ?? [];
  return [...new Set(found.map((mac) => mac.toLowerCase().replace(/-/g, ':')))];
}

/**
 * `/etc/netplan/9N-multinicN.yaml` as the original writes it: `network` with `version: 2` and one ethernet
 * `multinicN` (the file's own name) holding `match.macaddress`, `set-name: multinicN`, at most one address,
 * `dhcp4: false` (or no dhcp4), an MTU, and nothing else; no comment (someone edited it).
 */
export function readOriginalNetplan(content: string, name: string): OriginalRead {
  if (content.includes('#')) return not('it has a comment');
  let doc: unknown;
  try {
    doc = parseYaml(content);
  } catch {
    return not('invalid YAML');
  }
  if (!isRecord(doc) || !keysAre(doc, ['network'])) return not('keys other than network');
  const network = doc['network'];
  if (!isRecord(network) || !keysAre(network, ['ethernets', 'version']) || network['version'] !== 2)
    return not('network must hold version 2 and ethernets only');
  const ethernets = network['ethernets'];
  if (!isRecord(ethernets) || !keysAre(ethernets, [name])) return not(`ethernets must hold ${name} only`);
  const entry = ethernets[name];
  if (!isRecord(entry)) return not(`${name} is not a mapping`);
  const extra = Object.keys(entry).filter((key) => !NETPLAN_ENTRY_KEYS.has(key));
  if (extra.length > 0) return not(`unexpected key ${extra.join(', ')}`);
  const match = entry['match'];
  if (!isRecord(match) || !keysAre(match, ['macaddress'])) return not('match must be macaddress only');
  const mac = typeof match['macaddress'] === 'string' ? match['macaddress'].toLowerCase() : '';
  if (!MAC_RE.test(mac)) return not('invalid MAC');
  if (entry['set-name'] !== name) return not(`set-name is not ${name}`);
  if (entry['dhcp4'] !== undefined && entry['dhcp4'] !== false) return not('dhcp4 is not false');
  const mtu = entry['mtu'];
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < MTU_MIN || mtu > MTU_MAX)
    return not('invalid MTU');
  const addresses = entry['addresses'] ?? [];
  if (!Array.isArray(addresses) || addresses.length > 1) return not('more than one address');
  const first: unknown = addresses[0];
  const address = typeof first === 'string' ? parseCidr(first) : null;
  if (first !== undefined && address === null) return not('invalid address');
  return { ok: true, config: { name, mac, address, mtu } };
}

/**
 * `/etc/sysconfig/network-scripts/ifcfg-multinicN` as the original writes it: exactly the seed's keys
 * (DEVICE, NAME, TYPE=Ethernet, ONBOOT=yes, BOOTPROTO=none, IPADDR and PREFIX or neither, MTU, HWADDR),
 * unquoted, one per line, no comment, DEVICE and NAME the file's own name.
 */
export function readOriginalIfcfg(content: string, name: string): OriginalRead {
  const keys: string[] = [];
  for (const line of content.split('\n')) {
    if (line.trim() === '') continue;
    const match = IFCFG_LINE_RE.exec(line);
    if (match === null)
      return not(line.trimStart().startsWith('#') ? 'it has a comment' : 'a line that is not KEY=value');
    keys.push(match[1] ?? '');
  }
  const unexpected = keys.filter((key) => !IFCFG_KEYS.includes(key));
  if (unexpected.length > 0) return not(`unexpected key ${unexpected.join(', ')}`);
  const config = parseIfcfg(content);
  if (config === null) return not('the seed keys with other values');
  if (config.name !== name) return not(`DEVICE is not ${name}`);
  return { ok: true, config };
}
