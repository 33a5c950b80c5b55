/**
 * The desired-state store as the agent sees it: this node's rows in, `netplan_success` out.
 * A port with two implementations: MySQL/MariaDB (./mysql.ts) and an embedded store to follow.
 */
import type { NodeRows } from './node-rows.js';

export type { NodeRows } from './node-rows.js';

/** One `netplan_success` value to write for one row. */
export interface StatusUpdate {
  id: number;
  success: 0 | 1;
}

/** Statements sent to the database since the store was created; lets tests and benchmarks hold the cost. */
export interface StoreStats {
  selects: number;
  updates: number;
  /** Connections opened (a file opened, for the embedded store). */
  connects: number;
}

export interface DesiredStore {
  /**
   * This node's rows, sorted by id, unvalidated, and where the rows `ownedIds` name are when they are
   * not this node's (a row that is not returned at all is gone). Exactly one SELECT per call in steady
   * state. Rejects with a retryable AgentError ('db_connection' or 'db_query') when the rows could not be
   * read: the caller must then keep the host as it is (a failed read is never an empty table).
   */
  rowsForNode(nodeName: string, ownedIds?: readonly number[]): Promise<NodeRows>;
  /**
   * Writes `netplan_success` for the given rows. The caller passes only rows whose value changes.
   * At most one UPDATE per distinct value; nothing at all for an empty list.
   */
  writeStatus(updates: readonly StatusUpdate[]): Promise<void>;
  /** Cheap reachability check (used by verification after an apply); counted in neither stat. */
  ping(): Promise<void>;
  /**
   * The cycle is over: closes the connections kept for the next one, unless the store keeps them
   * (DB_KEEP_CONNECTION); the next call opens one again. Never rejects.
   */
  idle(): Promise<void>;
  /** Releases every connection; afterwards the process can exit and every call rejects. */
  close(): Promise<void>;
  readonly stats: StoreStats;
}
