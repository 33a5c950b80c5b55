import { z } from 'zod';
import { ipv4ToNumber, isIpv4, networkOf, parseCidr, prefixMask } from './ipv4.js';
import type { DesiredNic, InterfaceRow, Ipv4Cidr, RowField, RowProblem } from './types.js';

/** SPEC §3: MTU bounds the agent accepts; what the NIC accepts is checked at apply time. */
export const MTU_MIN = 68;
export const MTU_MAX = 65535;
export const DEFAULT_MTU = 1500;

const MAC_RE = /^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$/;
/** OpenStack port and subnet ids are UUIDs; accept any short token that is safe in a log line. */
const ID_TOKEN_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,35}$/;
const NODE_NAME_RE = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,252})$/;

/** Lower case, colon separated. Caller guarantees the text matched MAC_RE. */
function normaliseMac(text: string): string {
  return text.toLowerCase().replace(/-/g, ':');
}

const macSchema = z
  .string({ error: 'MAC is missing or not text' })
  .regex(MAC_RE, 'invalid MAC: expected six hex pairs separated by ":" or "-"')
  .transform(normaliseMac)
  .refine((mac) => mac !== '00:00:00:00:00:00', 'invalid MAC: all zeros')
  .refine((mac) => (parseInt(mac.slice(0, 2), 16) & 1) === 0, 'invalid MAC: multicast address');

const tokenSchema = z
  .string({ error: 'missing or not text' })
  .regex(ID_TOKEN_RE, 'invalid id: expected 1–36 of [A-Za-z0-9._-]');

const nodeNameSchema = z
  .string({ error: 'missing or not text' })
  .regex(NODE_NAME_RE, 'invalid node name: expected a host name');

const cidrSchema = z.string({ error: 'invalid network: not text' }).transform((text, ctx) => {
  const parsed = parseCidr(text);
  if (parsed === null) {
    ctx.addIssue({
      code: 'custom',
      message: 'invalid network: expected IPv4 a.b.c.d/prefix with prefix 0–32',
    });
    return z.NEVER;
  }
  if (networkOf(parsed.ip, parsed.prefix) !== ipv4ToNumber(parsed.ip)) {
    ctx.addIssue({ code: 'custom', message: 'invalid network: host bits are set' });
    return z.NEVER;
  }
  return parsed;
});

const addressSchema = z
  .string({ error: 'invalid address: not text' })
  .refine(isIpv4, 'invalid address: expected an IPv4 dotted quad')
  .refine((ip) => isUnicast(ip), 'invalid address: not a unicast host address');

const mtuSchema = z
  .number({ error: 'invalid MTU: not an integer' })
  .int('invalid MTU: not an integer')
  .min(MTU_MIN, `invalid MTU: below ${MTU_MIN}`)
  .max(MTU_MAX, `invalid MTU: above ${MTU_MAX}`);

function isUnicast(ip: string): boolean {
  const first = Number(ip.split('.')[0]);
  return first !== 0 && first !== 127 && first < 224;
}

type FieldCheck<T> = { ok: true; value: T } | { ok: false; problem: RowProblem };

function check<T>(schema: z.ZodType<T>, field: RowField, value: unknown): FieldCheck<T> {
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  const reason = result.error.issues[0]?.message ?? 'invalid value';
  return { ok: false, problem: { kind: 'invalid', field, reason } };
}

function invalid(field: RowField, reason: string): FieldCheck<never> {
  return { ok: false, problem: { kind: 'invalid', field, reason } };
}

/** SPEC §3: the address must be a host of its network (not the network or broadcast address below /31). */
function checkAddress(address: unknown, cidr: unknown): FieldCheck<Ipv4Cidr | null> {
  const network = cidr === null ? null : check(cidrSchema, 'cidr', cidr);
  if (network !== null && !network.ok) return network;
  if (address === null) return { ok: true, value: null };
  const ip = check(addressSchema, 'address', address);
  if (!ip.ok) return ip;
  if (network === null) return invalid('cidr', 'missing network: the address needs a cidr for its prefix');
  const { ip: base, prefix } = network.value;
  if (networkOf(ip.value, prefix) !== ipv4ToNumber(base)) {
    return invalid('address', `address outside network ${base}/${prefix}`);
  }
  if (prefix < 31) {
    const host = (ipv4ToNumber(ip.value) & ~prefixMask(prefix)) >>> 0;
    if (host === 0) return invalid('address', 'address is the network address');
    if (host === ~prefixMask(prefix) >>> 0) return invalid('address', 'address is the broadcast address');
  }
  return { ok: true, value: { ip: ip.value, prefix } };
}

export type RowValidation =
  { ok: true; nic: DesiredNic } | { ok: false; problem: RowProblem; mac: string | null };

/** Validates one row field by field; the first problem found is the one reported. */
export function validateRow(row: InterfaceRow): RowValidation {
  const mac = check(macSchema, 'macaddress', row.macaddress);
  const macValue = mac.ok ? mac.value : null;
  const fail = (problem: RowProblem): RowValidation => ({ ok: false, problem, mac: macValue });
  if (!mac.ok) return fail(mac.problem);
  const port = check(tokenSchema, 'port_id', row.port_id);
  if (!port.ok) return fail(port.problem);
  const subnet = check(tokenSchema, 'subnet_id', row.subnet_id);
  if (!subnet.ok) return fail(subnet.problem);
  const node = check(nodeNameSchema, 'attached_node_name', row.attached_node_name);
  if (!node.ok) return fail(node.problem);
  const address = checkAddress(row.address, row.cidr);
  if (!address.ok) return fail(address.problem);
  const mtu =
    row.mtu === null ? ({ ok: true, value: DEFAULT_MTU } as const) : check(mtuSchema, 'mtu', row.mtu);
  if (!mtu.ok) return fail(mtu.problem);
  return { ok: true, nic: { id: row.id, mac: mac.value, address: address.value, mtu: mtu.value } };
}

export interface Rejection {
  id: number;
  mac: string | null;
  problem: RowProblem;
}

export interface RowsValidation {
  /** Valid rows in id order, one per MAC. */
  valid: DesiredNic[];
  rejected: Rejection[];
}

/**
 * Validates every row and resolves duplicates. The lowest id with a given MAC wins it, and the lowest id
 * with a given IPv4 address wins that, even when the winner is itself invalid: a fix to the winner never
 * flips the NIC or the address over to another row. A row that lost its MAC claims no address.
 */
export function validateRows(rows: readonly InterfaceRow[]): RowsValidation {
  const sorted = [...rows].sort((a, b) => a.id - b.id);
  const macOwner = new Map<string, number>();
  const addressOwner = new Map<string, number>();
  const valid: DesiredNic[] = [];
  const rejected: Rejection[] = [];
  for (const row of sorted) {
    const result = validateRow(row);
    const mac = result.ok ? result.nic.mac : result.mac;
    const macWinner = mac === null ? undefined : macOwner.get(mac);
    if (macWinner !== undefined) {
      const reason = `duplicate MAC: row ${macWinner} has the same MAC and the lower id`;
      const problem = { kind: 'duplicate', field: 'macaddress', reason, winnerId: macWinner } as const;
      rejected.push({ id: row.id, mac, problem });
      continue;
    }
    if (mac !== null) macOwner.set(mac, row.id);
    const address = rowAddress(row);
    const addressWinner = address === null ? undefined : addressOwner.get(address);
    if (address !== null && addressWinner === undefined) addressOwner.set(address, row.id);
    if (!result.ok) {
      rejected.push({ id: row.id, mac, problem: result.problem });
    } else if (addressWinner !== undefined) {
      const reason = `duplicate address: row ${addressWinner} has the same address and the lower id`;
      const problem = { kind: 'duplicate', field: 'address', reason, winnerId: addressWinner } as const;
      rejected.push({ id: row.id, mac, problem });
    } else {
      valid.push(result.nic);
    }
  }
  return { valid, rejected };
}

/** The IPv4 address of any row whose address parses, valid or not (duplicates are judged on it). */
function rowAddress(row: InterfaceRow): string | null {
  const address = addressSchema.safeParse(row.address);
  return address.success ? address.data : null;
}

/** Normalised MAC of any row whose MAC parses, valid or not (used to keep files of rows still present). */
export function rowMac(row: InterfaceRow): string | null {
  const mac = macSchema.safeParse(row.macaddress);
  return mac.success ? mac.data : null;
}
