import { sameCidr } from './ipv4.js';
import { assignNames, isManagedName } from './naming.js';
import type {
  Change,
  DriftType,
  InterfaceRow,
  LiveLink,
  NamedNic,
  Observed,
  OwnedFile,
  Plan,
  RowOutcome,
} from './types.js';
import { rowMac, validateRows, type Rejection } from './validate.js';

/**
 * plan(desired, observed): every decision of a cycle, as data. The executor only walks the result.
 * Rows are validated, protected NICs refused, names assigned, then each NIC is compared with its owned
 * file and its live link; owned files whose MAC left the table become orphans (removed on the second sight).
 */
export function plan(rows: readonly InterfaceRow[], observed: Observed): Plan {
  const { valid, rejected } = validateRows(rows);
  const linkByMac = new Map(observed.links.map((link) => [link.mac, link]));
  const ownedMacs = new Set(observed.files.map((file) => file.config?.mac));
  const usable = valid.filter((nic) => {
    const problem = protectionOf(linkByMac.get(nic.mac), observed.protectedNames, ownedMacs.has(nic.mac));
    if (problem !== null) rejected.push({ id: nic.id, mac: nic.mac, problem });
    return problem === null;
  });
  const { named, overflow } = assignNames(usable, observed.files, observed.links, observed.reservedNames);
  for (const nic of overflow) {
    const reason = 'capacity: all ten names multinic0–multinic9 are in use';
    rejected.push({ id: nic.id, mac: nic.mac, problem: { kind: 'capacity', field: 'macaddress', reason } });
  }
  const changes: Change[] = [];
  const outcomes: RowOutcome[] = [];
  const fileByName = new Map(observed.files.map((file) => [file.name, file]));
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
  const orphans = findOrphans(rows, named, observed.files);
  const confirmed = orphans.filter((file) => observed.orphanCandidates.includes(file.name));
  for (const file of confirmed) changes.push(removal(file, observed));
  for (const rejection of rejected) outcomes.push(rejectedOutcome(rejection));
  outcomes.sort((a, b) => a.id - b.id);
  const orphanCandidates = orphans.filter((file) => !confirmed.includes(file)).map((file) => file.name);
  return { changes, rows: outcomes, orphanCandidates };
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

/** The drifts between a NIC's desired state, its owned file and its live link; null when in sync. */
function compare(nic: NamedNic, file: OwnedFile | undefined, link: LiveLink): Change | null {
  if (file === undefined) return { kind: 'create', nic, drifts: ['missing_file'] };
  const fileDrifts = fileDriftsOf(nic, file);
  if (fileDrifts.length > 0) return { kind: 'update', nic, previous: file, drifts: fileDrifts };
  const liveDrifts = liveDriftsOf(nic, link);
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

/**
 * Owned files to remove: those whose name was not given to a NIC, unless their MAC still belongs to a
 * row of this node that got no name (invalid, protected, over capacity): a bad update to a row must never
 * take down the working configuration of its NIC.
 */
function findOrphans(rows: readonly InterfaceRow[], named: readonly NamedNic[], files: readonly OwnedFile[]) {
  const namedNames = new Set(named.map((nic) => nic.name));
  const namedMacs = new Set(named.map((nic) => nic.mac));
  const unnamedRowMacs = new Set(
    rows.map(rowMac).filter((mac): mac is string => mac !== null && !namedMacs.has(mac)),
  );
  return files.filter((file) => {
    if (namedNames.has(file.name)) return false;
    return file.config === null || !unnamedRowMacs.has(file.config.mac);
  });
}

/** The live link left behind by an orphan has its addresses flushed, unless it is not ours to touch. */
function removal(file: OwnedFile, observed: Observed): Change {
  const mac = file.config?.mac;
  const link = mac === undefined ? undefined : observed.links.find((candidate) => candidate.mac === mac);
  const flushable =
    link !== undefined && isManagedName(link.name) && !observed.protectedNames.includes(link.name);
  return { kind: 'remove', file, drifts: ['orphan'], liveName: flushable ? link.name : null };
}
