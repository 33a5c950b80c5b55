/**
 * Shared vocabulary of the agent: desired rows, observed host state, and the plan between them.
 * Pure data; no behaviour lives here.
 */

/** One row of `multi_interface` as the store returns it, before validation. */
export interface InterfaceRow {
  id: number;
  port_id: unknown;
  subnet_id: unknown;
  macaddress: unknown;
  attached_node_name: unknown;
  netplan_success: number;
  address: unknown;
  /** `multi_interface.cidr`, or `multi_subnet.cidr` when the former is NULL and that table exists. */
  cidr: unknown;
  mtu: unknown;
}

/** An IPv4 address with its prefix length, e.g. 192.168.1.10/24. */
export interface Ipv4Cidr {
  ip: string;
  prefix: number;
}

/** A row that passed validation: what one NIC of this node should look like. */
export interface DesiredNic {
  id: number;
  /** Lower case, colon separated. */
  mac: string;
  /** null means link only (no IPv4 address). */
  address: Ipv4Cidr | null;
  mtu: number;
}

/** A desired NIC with its assigned `multinicN` name. */
export interface NamedNic extends DesiredNic {
  name: string;
}

/** The part of a NIC's configuration that the agent writes to a file and compares against. */
export interface NicConfig {
  name: string;
  mac: string;
  address: Ipv4Cidr | null;
  mtu: number;
}

/** A configuration file owned by the agent (carries the ownership header), as parsed back. */
export interface OwnedFile {
  /** Host path, e.g. /etc/netplan/90-multinic0.yaml. */
  path: string;
  /** The `multinicN` name taken from the file name. */
  name: string;
  /** Parsed configuration, or null when the file is owned but cannot be parsed (treated as drift). */
  config: NicConfig | null;
  /** Raw text, kept for backups and rollback. */
  content: string;
  /** The row the header says the file configures; null for files of format 1 (no row id). */
  rowId: number | null;
  /** Header format (ownership.ts): 1 before row ids, 2 now; 0 for an original agent's file being adopted. */
  format: number;
}

/** A live network interface on the host. */
export interface LiveLink {
  name: string;
  /** Lower case, colon separated. */
  mac: string;
  mtu: number;
  ipv4: Ipv4Cidr[];
}

/** Everything the planner needs to know about the host. */
export interface Observed {
  files: OwnedFile[];
  links: LiveLink[];
  /** Names of interfaces that hold the default route or the node's primary address. */
  protectedNames: string[];
  /** Names of owned files found orphaned in the previous cycle (orphan debounce). */
  orphanCandidates: string[];
  /** `multinicN` names whose file path is taken by a file the agent does not own: never used. */
  reservedNames: string[];
  /** Files the agent does not own at its paths, or named like its files: adopted or reported. */
  others: OtherFile[];
}

/** A file the agent does not own, at one of its paths or named like its files (never written, never deleted). */
export interface OtherFile {
  path: string;
  /** The `multinicN` name whose path this is; null for a path the agent does not write. */
  name: string | null;
  /** The configuration of a file in the original Go agent's exact shape, which may be adopted. */
  original: NicConfig | null;
  /** Why it cannot be adopted, when `original` is null. */
  reason: string;
  /** MACs the file mentions: a row with one of them is not configured beside it. */
  macs: string[];
  /** Its text ('' when it is not a readable regular file). */
  content: string;
}

/** A file the agent leaves alone, as reported (health, metrics, plan). */
export interface ForeignFile {
  path: string;
  reason: string;
}

export type DriftType =
  | 'missing_file'
  | 'address'
  | 'prefix'
  | 'mtu'
  | 'mac'
  | 'name'
  | 'unparsable_file'
  | 'live_address'
  | 'live_mtu'
  | 'live_name'
  | 'stale_address'
  | 'orphan'
  | 'owner';

/** Fixed list, for bounded metric labels and the README. */
export const DRIFT_TYPES: readonly DriftType[] = [
  'missing_file',
  'address',
  'prefix',
  'mtu',
  'mac',
  'name',
  'unparsable_file',
  'live_address',
  'live_mtu',
  'live_name',
  'stale_address',
  'orphan',
  'owner',
];

export type RowField =
  'id' | 'port_id' | 'subnet_id' | 'macaddress' | 'attached_node_name' | 'address' | 'cidr' | 'mtu';

/** Why a row is not configured (yet). */
export type RowProblem =
  | { kind: 'invalid'; field: RowField; reason: string }
  | { kind: 'duplicate'; field: 'macaddress' | 'address'; reason: string; winnerId: number }
  | { kind: 'capacity'; field: 'macaddress'; reason: string }
  | { kind: 'protected'; field: 'macaddress'; reason: string; interfaceName: string }
  | { kind: 'waiting'; field: 'macaddress'; reason: string }
  | { kind: 'foreign'; field: 'macaddress'; reason: string; path: string };

/** A change to make on the host, with the drifts that caused it. */
export type Change =
  | { kind: 'create'; nic: NamedNic; drifts: DriftType[] }
  | { kind: 'update'; nic: NamedNic; previous: OwnedFile; drifts: DriftType[] }
  /** File in sync, live link drifted: re-apply without writing (and drop stale addresses). */
  | { kind: 'reapply'; nic: NamedNic; file: OwnedFile; drifts: DriftType[] }
  /**
   * A file of the original agent taken over: rewritten in the agent's format (name kept); applied only
   * when what it configures differs from the row (its drifts), else nothing runs.
   */
  | { kind: 'adopt'; nic: NamedNic; previous: OwnedFile; drifts: DriftType[] }
  /** File in sync but its header names another row (or none, format 1): rewritten, nothing applied. */
  | { kind: 'record'; nic: NamedNic; previous: OwnedFile; drifts: ['owner'] }
  /** Orphan (row gone, after the debounce), or the old NIC of a port swap (at once, with the new one). */
  | { kind: 'remove'; file: OwnedFile; drifts: ['orphan']; liveName: string | null };

/**
 * An owned configuration kept exactly as it is (no write, no apply, no flush) because the row it belongs
 * to still exists but cannot be used now, or because the agent cannot tell that its row is gone.
 */
export interface HeldNic {
  file: OwnedFile;
  /** The row the file belongs to, when known. */
  rowId: number | null;
  /** Why the configuration is kept: the row's problem, or what made its removal unsafe. */
  reason: string;
}

/** A row an owned file names that is not (or no longer) this node's: attached elsewhere, or to no node. */
export interface RowElsewhere {
  id: number;
  /** attached_node_name as stored; null when the row is attached to no node. */
  node: string | null;
}

/** What the cycle must do for one row. */
export type RowOutcome =
  | { id: number; state: 'in_sync'; nic: NamedNic }
  | { id: number; state: 'change'; nic: NamedNic }
  | { id: number; state: 'rejected'; problem: RowProblem; mac: string | null };

export interface Plan {
  changes: Change[];
  rows: RowOutcome[];
  /** Orphaned owned files seen for the first time: removed next cycle if still orphaned. */
  orphanCandidates: string[];
  /** Owned configurations kept as they are (refused rows, removals that would be unsafe). */
  held: HeldNic[];
  /** Files the agent does not own and does not adopt: left exactly as they are. */
  foreign: ForeignFile[];
}
