/**
 * The agents' own table on MySQL/MariaDB (sql/fleet.sql, SPEC §10): each node's status, and the rollout
 * slots. A slot is claimed under `GET_LOCK`, so that two nodes never both see a free slot and take it; the
 * lock belongs to the connection, so the server frees it when an agent dies holding it. The slot itself is
 * a lease in the table (`slot_expires_at`): it frees itself too when its agent is killed mid-change. These
 * calls are rare (a cycle that changes working NICs, a status that changed): each opens its own
 * connection and closes it.
 */
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { AgentError } from '../core/errors.js';
import { slotsOf, type Budget } from '../core/rollout.js';
import type { StoreSettings } from './mysql.js';

/** Which agent a row is: the node, its agent's version and backend. */
export interface NodeId {
  node: string;
  version: string;
  backend: string;
}

/** A node's status row as the agent writes it. */
export interface NodeStatus extends NodeId {
  configured: number;
  failed: number;
  waiting: number;
  refused: number;
  lastError: string | null;
}

export interface Claim {
  granted: boolean;
  /** Other nodes holding a slot now (for the reason of a node that waits). */
  holders: { node: string; slot: string }[];
  slots: number;
}

/** A row of the fleet view (`multinic-agent fleet`), as stored, with whether its slot counts now. */
export interface FleetRow {
  node: string;
  version: string;
  backend: string;
  lastCycleAt: string | null;
  configured: number;
  failed: number;
  waiting: number;
  refused: number;
  slot: string | null;
  slotReason: string | null;
  slotSince: string | null;
  slotExpiresAt: string | null;
  /** Whether this slot counts against the budget now (a live lease, or a failure of a node with rows). */
  slotCounts: boolean;
  lastError: string | null;
  updatedAt: string;
}

export type ActiveBudget = Exclude<Budget, { kind: 'off' }>;

export interface FleetStore {
  /**
   * Takes a slot for `node` when fewer than the budget's slots are held by other nodes (its own slot, if
   * any, is renewed). `slots` is a number, or a percentage of the nodes that have rows.
   */
  claim(id: NodeId, budget: ActiveBudget, leaseMs: number, reason: string): Promise<Claim>;
  /** Keeps the slot as `failed`: it counts until released. */
  fail(node: string, reason: string): Promise<void>;
  /** Gives the slot back (nothing when the node holds none). */
  release(node: string): Promise<void>;
  /** Writes the node's status row (creating it), with the time of this cycle. */
  writeStatus(status: NodeStatus): Promise<void>;
  /** Every node's row. */
  readFleet(): Promise<FleetRow[]>;
  /** Statements sent, for tests and benchmarks. */
  readonly stats: { statements: number; connects: number };
}

const LOCK = 'multinic_agent_rollout';
const LOCK_WAIT_SECONDS = 10;
/** A lease further in the future than this is not one the agent wrote: it does not count. */
export const MAX_LEASE_SECONDS = 3_600;

export function createFleetStore(settings: StoreSettings): FleetStore {
  const stats = { statements: 0, connects: 0 };
  async function withConnection<T>(work: (query: Query) => Promise<T>): Promise<T> {
    let conn: Connection;
    try {
      conn = await createConnection({
        host: settings.host,
        port: settings.port,
        user: settings.user,
        password: settings.password,
        database: settings.database,
        connectTimeout: settings.connectTimeoutMs,
        dateStrings: true,
      });
    } catch (err) {
      throw fleetError('db_connection', 'database connect failed', err);
    }
    stats.connects += 1;
    const query: Query = async (sql, values = []) => {
      stats.statements += 1;
      try {
        const [rows] = await conn.query<RowDataPacket[]>({ sql, values, timeout: settings.queryTimeoutMs });
        return rows;
      } catch (err) {
        throw fleetError('db_query', 'fleet table query failed', err);
      }
    };
    try {
      return await work(query);
    } finally {
      await conn.end().catch(() => conn.destroy());
    }
  }
  return {
    claim: (id, budget, leaseMs, reason) =>
      withConnection((query) => claim(query, settings.filterDeleted, id, budget, leaseMs, reason)),
    fail: (node, reason) =>
      withConnection(async (query) => {
        await query(
          "UPDATE multinic_agent_status SET slot = 'failed', slot_reason = ?, slot_expires_at = NULL WHERE node_name = ?",
          [reason.slice(0, 255), node],
        );
      }),
    release: (node) =>
      withConnection(async (query) => {
        await query(
          'UPDATE multinic_agent_status SET slot = NULL, slot_reason = NULL, slot_since = NULL,' +
            ' slot_expires_at = NULL WHERE node_name = ? AND slot IS NOT NULL',
          [node],
        );
      }),
    writeStatus: (status) => withConnection((query) => upsertStatus(query, status)),
    readFleet: () => withConnection((query) => readFleet(query, settings.filterDeleted)),
    get stats() {
      return { ...stats };
    },
  };
}

type Query = (sql: string, values?: unknown[]) => Promise<RowDataPacket[]>;

function fleetError(kind: 'db_connection' | 'db_query', message: string, err: unknown): AgentError {
  const code = (err as { code?: unknown }).code;
  const text = err instanceof Error ? err.message : String(err);
  return new AgentError(kind, `${message}: ${text}`, { code }, err);
}

// A slot counts while its lease runs (and is one the agent could have written), or when it failed on a
// node that still has rows: a hand-written row for an unknown node, or a lease years ahead, wedges nothing.
function countsSql(filterDeleted: boolean): string {
  const deleted = filterDeleted ? ' AND mi.deleted_at IS NULL' : '';
  return (
    "((s.slot = 'changing' AND s.slot_expires_at > NOW(3)" +
    ` AND s.slot_expires_at <= NOW(3) + INTERVAL ${MAX_LEASE_SECONDS} SECOND)` +
    " OR (s.slot = 'failed' AND EXISTS (SELECT 1 FROM multi_interface mi WHERE" +
    ` (mi.attached_node_name = s.node_name OR mi.attached_node_name LIKE CONCAT(s.node_name, '.%'))${deleted})))`
  );
}

async function claim(
  query: Query,
  filterDeleted: boolean,
  id: NodeId,
  budget: ActiveBudget,
  leaseMs: number,
  reason: string,
): Promise<Claim> {
  const [locked] = await query('SELECT GET_LOCK(?, ?) AS ok', [LOCK, LOCK_WAIT_SECONDS]);
  if (Number(locked?.['ok']) !== 1)
    throw new AgentError('db_query', 'the rollout lock was not granted in time');
  try {
    const slots =
      budget.kind === 'count' ? budget.nodes : slotsOf(budget, await nodesWithRows(query, filterDeleted));
    const holders = (
      await query(
        `SELECT s.node_name, s.slot FROM multinic_agent_status s WHERE s.node_name <> ? AND ${countsSql(filterDeleted)}` +
          ' ORDER BY s.node_name',
        [id.node],
      )
    ).map((row) => ({ node: String(row['node_name']), slot: String(row['slot']) }));
    if (holders.length >= slots) return { granted: false, holders, slots };
    const lease = Math.max(1, Math.ceil(leaseMs / 1000));
    await query(
      'INSERT INTO multinic_agent_status (node_name, agent_version, backend, slot, slot_reason, slot_since,' +
        " slot_expires_at) VALUES (?, ?, ?, 'changing', ?, NOW(3), NOW(3) + INTERVAL ? SECOND)" +
        // A node retrying a failed change stays failed (it still counts, with no lease to run out) until its
        // change succeeds (release) or fails again (fail). Assignments run in order: later ones see the new slot.
        " ON DUPLICATE KEY UPDATE slot_since = IF(slot IS NULL OR slot NOT IN ('changing', 'failed'), NOW(3), slot_since)," +
        " slot_reason = IF(slot = 'failed', slot_reason, VALUES(slot_reason))," +
        " slot = IF(slot = 'failed', 'failed', 'changing')," +
        " slot_expires_at = IF(slot = 'failed', NULL, VALUES(slot_expires_at))",
      [id.node, id.version, id.backend, reason.slice(0, 255), lease],
    );
    return { granted: true, holders, slots };
  } finally {
    await query('SELECT RELEASE_LOCK(?)', [LOCK]);
  }
}

async function nodesWithRows(query: Query, filterDeleted: boolean): Promise<number> {
  const deleted = filterDeleted ? ' AND deleted_at IS NULL' : '';
  const [row] = await query(
    `SELECT COUNT(DISTINCT attached_node_name) AS nodes FROM multi_interface WHERE attached_node_name IS NOT NULL${deleted}`,
  );
  return Number(row?.['nodes'] ?? 0);
}

async function upsertStatus(query: Query, s: NodeStatus): Promise<void> {
  await query(
    'INSERT INTO multinic_agent_status (node_name, agent_version, backend, last_cycle_at, configured, failed,' +
      ' waiting, refused, last_error) VALUES (?, ?, ?, NOW(3), ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE' +
      ' agent_version = VALUES(agent_version), backend = VALUES(backend), last_cycle_at = NOW(3),' +
      ' configured = VALUES(configured), failed = VALUES(failed), waiting = VALUES(waiting),' +
      ' refused = VALUES(refused), last_error = VALUES(last_error)',
    [
      s.node,
      s.version,
      s.backend,
      s.configured,
      s.failed,
      s.waiting,
      s.refused,
      s.lastError?.slice(0, 1024) ?? null,
    ],
  );
}

async function readFleet(query: Query, filterDeleted: boolean): Promise<FleetRow[]> {
  const rows = await query(
    `SELECT s.*, ${countsSql(filterDeleted)} AS slot_counts FROM multinic_agent_status s ORDER BY s.node_name`,
  );
  // dateStrings: every column arrives as a string, a number or null.
  const text = (value: unknown) =>
    typeof value === 'string' || typeof value === 'number' ? String(value) : null;
  return rows.map((row) => ({
    node: String(row['node_name']),
    version: String(row['agent_version']),
    backend: String(row['backend']),
    lastCycleAt: text(row['last_cycle_at']),
    configured: Number(row['configured']),
    failed: Number(row['failed']),
    waiting: Number(row['waiting']),
    refused: Number(row['refused']),
    slot: text(row['slot']),
    slotReason: text(row['slot_reason']),
    slotSince: text(row['slot_since']),
    slotExpiresAt: text(row['slot_expires_at']),
    slotCounts: Number(row['slot_counts']) === 1,
    lastError: text(row['last_error']),
    updatedAt: String(row['updated_at']),
  }));
}
