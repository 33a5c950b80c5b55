import type { Ipv4Cidr } from './types.js';

const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])';
const IPV4_RE = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
const PREFIX_RE = /^(3[0-2]|[12][0-9]|[0-9])$/;

/** Strict dotted quad: four decimal octets 0–255, no leading zeros (which some tools read as octal). */
export function isIpv4(text: string): boolean {
  return IPV4_RE.test(text);
}

/** Strict prefix length 0–32, no leading zeros. */
export function isPrefix(text: string): boolean {
  return PREFIX_RE.test(text);
}

/** The address as an unsigned 32-bit number. Caller guarantees `isIpv4(text)`. */
export function ipv4ToNumber(text: string): number {
  return text.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

export function numberToIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/** Netmask of a prefix length as an unsigned 32-bit number. */
export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function networkOf(ip: string, prefix: number): number {
  return (ipv4ToNumber(ip) & prefixMask(prefix)) >>> 0;
}

export function formatCidr(value: Ipv4Cidr): string {
  return `${value.ip}/${value.prefix}`;
}

export function sameCidr(a: Ipv4Cidr | null, b: Ipv4Cidr | null): boolean {
  if (a === null || b === null) return a === b;
  return a.ip === b.ip && a.prefix === b.prefix;
}

/** Parses `a.b.c.d/p` strictly; null when malformed. */
export function parseCidr(text: string): Ipv4Cidr | null {
  const slash = text.indexOf('/');
  if (slash === -1) return null;
  const ip = text.slice(0, slash);
  const prefix = text.slice(slash + 1);
  if (!isIpv4(ip) || !isPrefix(prefix)) return null;
  return { ip, prefix: Number(prefix) };
}
