/**
 * Live links, read without spawning a process: sysfs for name, MAC, MTU and type; the C library's
 * getifaddrs (os.networkInterfaces) for IPv4 addresses; /proc/net/route for the default route.
 * All three show the agent's network namespace, so the agent must run with the host's network.
 */
import { readFileSync, readdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentError } from '../core/errors.js';
import type { Ipv4Cidr, LiveLink } from '../core/types.js';

export interface ReadLinksOptions {
  /** Default '/sys/class/net'. */
  sysClassNet?: string;
  /** Default os.networkInterfaces; injected by tests. */
  interfaces?: () => NodeJS.Dict<os.NetworkInterfaceInfo[]>;
}

/** ARPHRD_ETHER in include/uapi/linux/if_arp.h; loopback, tunnels, etc. have other types. */
const ARPHRD_ETHER = 1;
const MAC_PATTERN = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
/** Errors that mean "the link went away (or never was a link)" while it was being read. */
const GONE = new Set(['ENOENT', 'ENODEV', 'ENXIO', 'ENOTDIR']);

/**
 * Ethernet links of the host, sorted by name, with their IPv4 addresses. Loopback and non-Ethernet
 * links are skipped; so is a link that disappears while it is read.
 *
 * Caveat of os.networkInterfaces (libuv): it lists addresses only of links that are up and running,
 * so a link that is down shows no IPv4 address here.
 */
export function readLinks(opts: ReadLinksOptions = {}): Promise<LiveLink[]> {
  return settled(() => listLinks(opts));
}

/** A synchronous read behind the promise the callers await: what it throws is the rejection. */
function settled<T>(read: () => T): Promise<T> {
  try {
    return Promise.resolve(read());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

function listLinks(opts: ReadLinksOptions): LiveLink[] {
  const dir = opts.sysClassNet ?? '/sys/class/net';
  // Synchronous on purpose, like HostFs.readText: sysfs and procfs are answered from kernel memory in
  // microseconds, and the promise API cost five thread-pool round trips for each of the three attributes
  // of every link, every cycle: most of a converged cycle's CPU (issue 15).
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new AgentError('io', `cannot list ${dir}`, { path: dir }, err);
  }
  const addresses = (opts.interfaces ?? os.networkInterfaces)();
  const links: LiveLink[] = [];
  for (const name of names.sort()) {
    if (name === 'lo') continue;
    const base = readLinkBase(path.join(dir, name));
    if (base === null) continue;
    links.push({ name, ...base, ipv4: ipv4Of(addressesOf(addresses, name)) });
  }
  return links;
}

function readLinkBase(linkDir: string): { mac: string; mtu: number } | null {
  const type = readAttr(linkDir, 'type');
  if (type === null || Number(type) !== ARPHRD_ETHER) return null;
  const address = readAttr(linkDir, 'address');
  const mtuText = readAttr(linkDir, 'mtu');
  if (address === null || mtuText === null) return null;
  const mac = address.toLowerCase();
  const mtu = Number(mtuText);
  if (!MAC_PATTERN.test(mac) || !Number.isInteger(mtu) || mtu <= 0) return null;
  return { mac, mtu };
}

/** One sysfs attribute, trimmed; null when the link (or the attribute) is gone. */
function readAttr(linkDir: string, attr: string): string | null {
  try {
    return readFileSync(path.join(linkDir, attr), 'utf8').trim();
  } catch (err) {
    if (GONE.has((err as NodeJS.ErrnoException).code ?? '')) return null;
    throw new AgentError('io', `cannot read ${linkDir}/${attr}`, { path: `${linkDir}/${attr}` }, err);
  }
}

/** getifaddrs names an IPv4 address carrying a label (`ip addr add … label eth0:1`) by the label. */
function addressesOf(all: NodeJS.Dict<os.NetworkInterfaceInfo[]>, name: string): os.NetworkInterfaceInfo[] {
  const labelled = Object.keys(all).filter((key) => key.startsWith(`${name}:`));
  return [name, ...labelled.sort()].flatMap((key) => all[key] ?? []);
}

function ipv4Of(infos: readonly os.NetworkInterfaceInfo[]): Ipv4Cidr[] {
  const result: Ipv4Cidr[] = [];
  for (const info of infos) {
    if (info.family !== 'IPv4') continue;
    const prefix = prefixOf(info.netmask);
    if (prefix !== null) result.push({ ip: info.address, prefix });
  }
  return result;
}

/** 255.255.255.0 → 24; null for anything that is not a contiguous IPv4 netmask. */
export function prefixOf(netmask: string): number | null {
  const parts = netmask.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  const bits = parts.map((p) => Number(p).toString(2).padStart(8, '0')).join('');
  const prefix = bits.indexOf('0') === -1 ? 32 : bits.indexOf('0');
  return bits.slice(prefix).includes('1') ? null : prefix;
}

/** Column layout of /proc/net/route (net/ipv4/fib_trie.c): Iface, Destination, …, Mask, … in hex. */
const ROUTE_HEADER = ['Iface', 'Destination', 'Mask'] as const;

/** Names of the interfaces holding an IPv4 default route, in table order; [] when the file is absent. */
export function readDefaultRouteInterfaces(procNetRoute: string): Promise<string[]> {
  return settled(() => defaultRouteInterfaces(procNetRoute));
}

function defaultRouteInterfaces(procNetRoute: string): string[] {
  let text: string;
  try {
    // Synchronous for the same reason as readLinks.
    text = readFileSync(procNetRoute, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new AgentError('io', `cannot read ${procNetRoute}`, { path: procNetRoute }, err);
  }
  return parseDefaultRoutes(text);
}

/** The pure half of readDefaultRouteInterfaces. */
export function parseDefaultRoutes(text: string): string[] {
  const [header, ...rows] = text.split('\n').map((line) => line.trim().split(/\s+/));
  if (header === undefined) return [];
  const [iface, dest, mask] = ROUTE_HEADER.map((column) => header.indexOf(column));
  if (iface === undefined || dest === undefined || mask === undefined) return [];
  if (iface < 0 || dest < 0 || mask < 0) return [];
  const names: string[] = [];
  for (const row of rows) {
    const name = row[iface];
    if (name === undefined || name === '') continue;
    if (row[dest] !== '00000000' || row[mask] !== '00000000') continue;
    if (!names.includes(name)) names.push(name);
  }
  return names;
}
