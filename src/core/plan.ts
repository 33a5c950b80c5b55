import { sameCidr } from './ipv4.js';
import { assignNames, isManagedName } from './naming.js';
import type {
  Change,
  DesiredNic,
  DriftType,
  ForeignFile,
  HeldNic,
  InterfaceRow,
  LiveLink,
  NamedNic,
  Observed,
  OtherFile,
  OwnedFile,
  Plan,
  RowElsewhere,
  RowOutcome,
} from './types.js';
import { rowMac, validateRows, type Rejection } from './validate.js';

/**
 * plan(desired, observed): every decision of a cycle, as data. The executor only walks the result.
 * Rows are validated, protected NICs refused, names assigned, then each NIC is compared with its owned
 * file and its live link. An owned file no NIC was named for is held, removed with a port swap, or
 * orphaned (removed on the second sight) by `fateOf`. `elsewhere` says where the rows that owned files
 * name and that are not this node's are now (the store reads them in the same SELECT).
 */
export function plan(
  rows: readonly InterfaceRow[],
  observed: Observed,
  elsewhere: readonly RowElsewhere[] = [],
): Plan {
  const { valid, rejected } = validateRows(rows);
  const takeover = takeOver(observed, valid);
  const linkByMac = new Map(observed.links.map((link) => [link.mac, link]));
  const usable = valid.filter((nic) => {
    const problem = untouchable(nic, linkByMac.get(nic.mac), observed, takeover);
    if (problem !== null) rejected.push({ id: nic.id, mac: nic.mac, problem });
    return problem === null;
  });
  const { named, overflow } = assignNames(usable, takeover.files, observed.links, takeover.reservedNames);
  for (const nic of overflow) {
    const reason = 'capacity: all ten names multinic0–multinic9 are in use';
    rejected.push({ id: nic.id, mac: nic.mac, problem: { kind: 'capacity', field: 'macaddress', reason } });
  }
  const changes: Change[] = [];
  const outcomes: RowOutcome[] = [];
  const fileByName = new Map(takeover.files.map((file) => [file.name, file]));
  for (const nic of named) {
    const link = linkByMac.get(nic.mac);
    if (link === undefined) {
      const reason = 'waiting for NIC: no interface with this MAC on the host yet';
      rejected.push({ id: nic.id, mac: nic.mac, problem: { kind: 'waiting', field: 'macaddress', reason } });
      continue;
    }
    const change = compare(nic, fileByName.get(nic.name), link);
    if (change !== null) changes.push(change);
    outcomes.push({ id: nic.id, state: change === null ? 'in_sync' : 'change', nic });
  }
  const claimed = new Set(named.map((nic) => nic.name));
  const context: FateContext = { rows, named, rejected, elsewhere, linkByMac };
  const held: HeldNic[] = [];
  const orphans: OwnedFile[] = [];
  for (const file of takeover.files.filter((candidate) => !claimed.has(candidate.name))) {
    const fate = file.format === 0 ? FOREIGN_DUPLICATE : fateOf(file, context);
    if (fate.kind === 'hold') held.push({ file, rowId: fate.rowId, reason: fate.reason });
    else if (fate.kind === 'foreign') takeover.foreign.push({ path: file.path, reason: fate.reason });
    else if (fate.kind === 'swap') changes.push(removal(file, observed, named));
    else orphans.push(file);
  }
  const confirmed = orphans.filter((file) => observed.orphanCandidates.includes(file.name));
  for (const file of confirmed) changes.push(removal(file, observed, named));
  for (const rejection of rejected) outcomes.push(rejectedOutcome(rejection));
  outcomes.sort((a, b) => a.id - b.id);
  const orphanCandidates = orphans.filter((file) => !confirmed.includes(file)).map((file) => file.name);
  return { changes, rows: outcomes, orphanCandidates, held, foreign: takeover.foreign };
}

interface Takeover {
  /** Owned files, and the original agent's files taken over (format 0). */
  files: OwnedFile[];
  /** Names whose path holds a file neither owned nor taken over. */
  reservedNames: string[];
  /** Files neither owned nor taken over, with why. */
  foreign: ForeignFile[];
  /** Those files' names and the MACs they mention: rows with them are not configured beside them. */
  blocking: readonly OtherFile[];
}

/**
 * SPEC §5 takeover: a file in the original agent's exact shape, at one of the agent's paths, whose MAC is on
 * a valid row of this node, is taken over under its own name. Every other file is foreign.
 */
function takeOver(observed: Observed, valid: readonly DesiredNic[]): Takeover {
  const validMacs = new Set(valid.map((nic) => nic.mac));
  const files = [...observed.files];
  const blocking: OtherFile[] = [];
  const foreign: ForeignFile[] = [];
  for (const other of observed.others) {
    if (other.name !== null && other.original !== null && validMacs.has(other.original.mac)) {
      const { path, name, original: config, content } = other;
      files.push({ path, name, config, content, rowId: null, format: 0 });
      continue;
    }
    blocking.push(other);
    const reason =
      other.original === null
        ? other.reason
        : "in the original agent's shape, but its MAC is on no valid row of this node";
    foreign.push({ path: other.path, reason });
  }
  const taken = new Set(files.map((file) => file.name));
  const reservedNames = observed.reservedNames.filter((name) => !taken.has(name));
  return { files, reservedNames, foreign, blocking };
}

const FOREIGN_DUPLICATE: Fate = {
  kind: 'foreign',
  reason: "in the original agent's shape, but not taken over: its row is refused or another file has its MAC",
};

/** A NIC the agent must not configure: protected, or configured by a file it does not own. */
function untouchable(nic: DesiredNic, link: LiveLink | undefined, observed: Observed, takeover: Takeover) {
  const blocker = takeover.blocking.find(
    (other) => other.macs.includes(nic.mac) || (link !== undefined && other.name === link.name),
  );
  if (blocker !== undefined) {
    const reason = `held by a file multinic-agent does not own: ${blocker.path}`;
    return { kind: 'foreign' as const, field: 'macaddress' as const, reason, path: blocker.path };
  }
  const configured = takeover.files.some((file) => file.config?.mac === nic.mac);
  return protectionOf(link, observed.protectedNames, configured);
}

function rejectedOutcome(rejection: Rejection): RowOutcome {
  return { id: rejection.id, state: 'rejected', problem: rejection.problem, mac: rejection.mac };
}

/** SPEC §3 "protected NIC": the default-route or primary-address interface, or one someone else configured. */
function protectionOf(link: LiveLink | undefined, protectedNames: readonly string[], hasOwnedFile: boolean) {
  if (link === undefined) return null;
  if (protectedNames.includes(link.name)) {
    const reason = `protected: ${link.name} holds the default route or the node's primary address`;
    return { kind: 'protected' as const, field: 'macaddress' as const, reason, interfaceName: link.name };
  }
  if (!isManagedName(link.name) && !hasOwnedFile && link.ipv4.length > 0) {
    const reason = `protected: ${link.name} carries addresses the agent did not configure`;
    return { kind: 'protected' as const, field: 'macaddress' as const, reason, interfaceName: link.name };
  }
  return null;
}

/**
 * Whether carrying out a change needs the OS tool to apply something. A header rewrite (`record`) and the
 * takeover of a file equal to its row (`adopt` without drifts) only rewrite a file: the link is untouched.
 */
export function appliesSettings(change: Change): boolean {
  if (change.kind === 'record') return false;
  return change.kind !== 'adopt' || change.drifts.length > 0;
}

/** The drifts between a NIC's desired state, its owned file and its live link; null when in sync. */
function compare(nic: NamedNic, file: OwnedFile | undefined, link: LiveLink): Change | null {
  if (file === undefined) return { kind: 'create', nic, drifts: ['missing_file'] };
  const fileDrifts = fileDriftsOf(nic, file);
  const liveDrifts = liveDriftsOf(nic, link);
  // Taken over: rewritten in the agent's format; applied only for what differs from the row.
  if (file.format === 0)
    return { kind: 'adopt', nic, previous: file, drifts: [...fileDrifts, ...liveDrifts] };
  const ownerDrift = file.rowId !== nic.id;
  const owner: DriftType[] = ownerDrift ? ['owner'] : [];
  if (fileDrifts.length > 0)
    return { kind: 'update', nic, previous: file, drifts: [...fileDrifts, ...owner] };
  // A link to re-apply while the header is stale: one update brings the file and the link in line.
  if (ownerDrift && liveDrifts.length > 0)
    return { kind: 'update', nic, previous: file, drifts: [...liveDrifts, ...owner] };
  if (ownerDrift) return { kind: 'record', nic, previous: file, drifts: ['owner'] };
  return liveDrifts.length > 0 ? { kind: 'reapply', nic, file, drifts: liveDrifts } : null;
}

function fileDriftsOf(nic: NamedNic, file: OwnedFile): DriftType[] {
  const config = file.config;
  if (config === null) return ['unparsable_file'];
  const drifts: DriftType[] = [];
  if (config.mac !== nic.mac) drifts.push('mac');
  if (config.name !== nic.name) drifts.push('name');
  if (config.address?.ip !== nic.address?.ip) drifts.push('address');
  else if (!sameCidr(config.address, nic.address)) drifts.push('prefix');
  if (config.mtu !== nic.mtu) drifts.push('mtu');
  return drifts;
}

function liveDriftsOf(nic: NamedNic, link: LiveLink): DriftType[] {
  const drifts: DriftType[] = [];
  if (link.name !== nic.name) drifts.push('live_name');
  if (link.mtu !== nic.mtu) drifts.push('live_mtu');
  const hasDesired = nic.address === null || link.ipv4.some((a) => sameCidr(a, nic.address));
  if (!hasDesired) drifts.push('live_address');
  if (link.ipv4.some((a) => !sameCidr(a, nic.address))) drifts.push('stale_address');
  return drifts;
}

interface FateContext {
  rows: readonly InterfaceRow[];
  named: readonly NamedNic[];
  rejected: readonly Rejection[];
  elsewhere: readonly RowElsewhere[];
  linkByMac: ReadonlyMap<string, LiveLink>;
}

type Fate =
  | { kind: 'hold'; rowId: number | null; reason: string }
  | { kind: 'foreign'; reason: string }
  | { kind: 'swap' }
  | { kind: 'orphan' };

/**
 * What becomes of an owned file that no NIC was named for (SPEC §6). Only a row that is gone (deleted,
 * attached elsewhere while its NIC has left this host) orphans it, and a valid row that now names
 * another MAC removes it at once (port swap); a row that still exists but is refused holds it, and so
 * does anything that leaves the agent unable to tell.
 */
function fateOf(file: OwnedFile, context: FateContext): Fate {
  if (file.rowId === null) return fateByMac(file, context);
  const id = file.rowId;
  if (context.rows.some((row) => row.id === id)) {
    const rejection = context.rejected.find((candidate) => candidate.id === id);
    if (rejection !== undefined) return { kind: 'hold', rowId: id, reason: rejection.problem.reason };
    if (context.named.some((nic) => nic.id === id)) return { kind: 'swap' };
    return { kind: 'hold', rowId: id, reason: `row ${id} got no name in this cycle` };
  }
  const moved = context.elsewhere.find((row) => row.id === id);
  const mac = file.config?.mac;
  if (moved !== undefined && mac !== undefined && context.linkByMac.has(mac)) {
    const where = moved.node === null ? 'no node' : `node ${moved.node}`;
    const reason = `row ${id} is attached to ${where}, but its NIC is still on this host (is NODE_NAME right?)`;
    return { kind: 'hold', rowId: id, reason };
  }
  return { kind: 'orphan' };
}

/** Files of format 1 carry no row id: the row is the lowest id with the file's MAC, if any. */
function fateByMac(file: OwnedFile, context: FateContext): Fate {
  const mac = file.config?.mac;
  const claim = [...context.rows]
    .sort((a, b) => a.id - b.id)
    .find((row) => mac !== undefined && rowMac(row) === mac);
  if (claim !== undefined) {
    const rejection = context.rejected.find((candidate) => candidate.id === claim.id);
    return rejection === undefined
      ? { kind: 'orphan' }
      : { kind: 'hold', rowId: claim.id, reason: rejection.problem.reason };
  }
  const unreadable = context.rows.find((row) => rowMac(row) === null);
  if (unreadable !== undefined) {
    const reason = `the file has no row id and row ${unreadable.id}'s MAC cannot be read: it may be this NIC's row`;
    return { kind: 'hold', rowId: null, reason };
  }
  return { kind: 'orphan' };
}

/**
 * The live link left behind by a removed file has its addresses flushed, unless it is not ours to touch
 * or another file configures its MAC (a stray second file of one NIC).
 */
function removal(file: OwnedFile, observed: Observed, named: readonly NamedNic[]): Change {
  const mac = file.config?.mac;
  const link = mac === undefined ? undefined : observed.links.find((candidate) => candidate.mac === mac);
  const flushable =
    link !== undefined &&
    isManagedName(link.name) &&
    !observed.protectedNames.includes(link.name) &&
    !named.some((nic) => nic.mac === link.mac);
  return { kind: 'remove', file, drifts: ['orphan'], liveName: flushable ? link.name : null };
}
