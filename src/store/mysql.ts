/**
 * The desired-state store on MySQL/MariaDB (SPEC §2): this node's rows in one SELECT per cycle,
 * `netplan_success` out in one UPDATE per distinct value, and every failure as a retryable AgentError
 * that says whether the database could be reached at all.
 */
import { createPool } from 'mysql2/promise';
import type { Pool, PoolConnection, PoolOptions, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { AgentError } from '../core/errors.js';
import { shortName } from '../core/node-name.js';
import { splitNodeRows, type NodeRows } from './node-rows.js';
import type { DesiredStore, StatusUpdate, StoreStats } from './store.js';

export type { DesiredStore, StatusUpdate, StoreStats } from './store.js';

export interface StoreSettings {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** Bound on opening a connection (TCP + handshake). */
  connectTimeoutMs: number;
  /** Bound on every statement, from send to last packet. */
  queryTimeoutMs: number;
  /** SPEC §2: false for controllers that use deleted_at for their own bookkeeping and hard-delete rows. */
  filterDeleted: boolean;
  /**
   * Keep the connection open between cycles. Off by default: with one agent per node, kept connections
   * would need max_connections above the node count (MariaDB's default is 151).
   */
  keepConnection?: boolean;
}

interface Context {
  /** Created at the first statement after start or after idle(); null in between. */
  pool: Pool | null;
  closed: boolean;
  readonly settings: StoreSettings;
  readonly stats: StoreStats;
  /** Best-effort KILL QUERY statements still in flight; close() waits for them. */
  readonly kills: Set<Promise<void>>;
  /** Whether multi_subnet(subnet_id, cidr) exists; null until probed, and again after the schema moved. */
  subnetTable: boolean | null;
}

// What `send` counts: SELECT and UPDATE in stats, anything else (ping, KILL) in neither.
type StatementKind = 'select' | 'update' | 'other';

/**
 * Creates the store without connecting: the database may be down when the agent starts, and the agent
 * must keep running. Every call then rejects with a retryable AgentError('db_connection').
 */
export function createMysqlStore(settings: StoreSettings): DesiredStore {
  const ctx: Context = {
    pool: null,
    closed: false,
    settings,
    stats: { selects: 0, updates: 0, connects: 0 },
    kills: new Set(),
    subnetTable: null,
  };
  let closing: Promise<void> | null = null;
  return {
    rowsForNode: (nodeName, ownedIds = []) => rowsForNode(ctx, nodeName, ownedIds),
    writeStatus: (updates) => writeStatus(ctx, updates),
    ping: () => ping(ctx),
    idle: () => (settings.keepConnection === true ? Promise.resolve() : endPool(ctx).catch(() => undefined)),
    close: () => (closing ??= close(ctx)),
    get stats() {
      return { ...ctx.stats };
    },
  };
}

function poolOptions(s: StoreSettings): PoolOptions {
  return {
    host: s.host,
    port: s.port,
    user: s.user,
    password: s.password,
    database: s.database,
    connectTimeout: s.connectTimeoutMs,
    // A cycle sends its statements one after another; the second connection serves ping and KILL QUERY.
    connectionLimit: 2,
    // Equal to connectionLimit, so mysql2 starts no idle-reaper timer that would keep the process alive.
    maxIdle: 2,
    waitForConnections: true,
    // INT and TINYINT already arrive as JS numbers. These two make a controller's wider column (BIGINT or
    // DECIMAL mtu) arrive as a number too, so the core sees one type per field and validates it.
    supportBigNumbers: true,
    decimalNumbers: true,
    // The store sends text queries only, never prepared statements. mysql2 sizes each connection's
    // statement cache by this (default 16,000: four 16,000-slot arrays, ~0.5 MB allocated per connection),
    // and a connection is opened every cycle: that garbage was most of a steady cycle's GC (issue 15).
    maxPreparedStatements: 1,
  };
}

async function rowsForNode(ctx: Context, nodeName: string, ownedIds: readonly number[]): Promise<NodeRows> {
  const withSubnets = await subnetTableExists(ctx);
  const query = nodeRowsQuery(nodeName, ownedIds, withSubnets, ctx.settings.filterDeleted);
  let rows: RowDataPacket[];
  try {
    rows = await send<RowDataPacket[]>(ctx, 'select', query.sql, query.values);
  } catch (err) {
    // The subnet table (or a column of it) went away or appeared differently: probe again next call.
    if (isSchemaChange(err)) ctx.subnetTable = null;
    throw err;
  }
  // SQL narrowed by index; the exact rule (case, first dot) is the core's, applied to what came back.
  return splitNodeRows(rows, nodeName, ownedIds);
}

// The IN/LIKE prefilter keeps the index on attached_node_name usable (a function on the column would
// not); it may return a little more than the exact rule, never less. The rows owned files name come in
// the same statement (by primary key), so a cycle still sends one SELECT.
function nodeRowsQuery(
  nodeName: string,
  ownedIds: readonly number[],
  withSubnets: boolean,
  filterDeleted: boolean,
): { sql: string; values: unknown[] } {
  const short = shortName(nodeName);
  const cidr = withSubnets ? `COALESCE(mi.cidr, ${SUBNET_CIDR})` : 'mi.cidr';
  const deleted = filterDeleted ? ' AND mi.deleted_at IS NULL' : '';
  const owned = ownedIds.length > 0 ? ' OR mi.id IN (?)' : '';
  const sql =
    'SELECT mi.id, mi.port_id, mi.subnet_id, mi.macaddress, mi.attached_node_name,' +
    // NULL has never been written by a controller we know of; it means "not configured" like 0.
    ' COALESCE(mi.netplan_success, 0) AS netplan_success,' +
    ` mi.address, ${cidr} AS cidr, mi.mtu` +
    ' FROM multi_interface mi' +
    " WHERE (mi.attached_node_name IN (?, ?) OR mi.attached_node_name LIKE ? ESCAPE '!'" +
    `${owned})${deleted} ORDER BY mi.id`;
  const values: unknown[] = [nodeName, short, `${escapeLike(short)}.%`];
  return { sql, values: ownedIds.length > 0 ? [...values, [...ownedIds]] : values };
}

// A subquery, not a join: a multi_subnet without a unique subnet_id must not duplicate rows. When one
// subnet has several different cidrs the answer is ambiguous, so it is NULL and the core rejects the row.
const SUBNET_CIDR =
  '(SELECT CASE WHEN COUNT(DISTINCT ms.cidr) = 1 THEN MIN(ms.cidr) END' +
  ' FROM multi_subnet ms WHERE ms.subnet_id = mi.subnet_id)';

// `!` rather than the usual backslash: a backslash literal means something else under the
// NO_BACKSLASH_ESCAPES sql_mode, `!` means the same everywhere.
function escapeLike(value: string): string {
  return value.replace(/[!%_]/g, '!$&');
}

const SUBNET_PROBE =
  'SELECT column_name FROM information_schema.columns' +
  " WHERE table_schema = DATABASE() AND table_name = 'multi_subnet' AND column_name IN ('subnet_id', 'cidr')";

// Probed once, lazily: the first call may find the database down, and the table rarely changes.
async function subnetTableExists(ctx: Context): Promise<boolean> {
  if (ctx.subnetTable !== null) return ctx.subnetTable;
  const columns = await send<RowDataPacket[]>(ctx, 'select', SUBNET_PROBE, []);
  // A table without both columns cannot serve the fallback; treating it as absent keeps the main query valid.
  ctx.subnetTable = columns.length === 2;
  return ctx.subnetTable;
}

function isSchemaChange(err: unknown): boolean {
  if (!(err instanceof AgentError)) return false;
  return err.details.code === 'ER_NO_SUCH_TABLE' || err.details.code === 'ER_BAD_FIELD_ERROR';
}

async function writeStatus(ctx: Context, updates: readonly StatusUpdate[]): Promise<void> {
  // One statement per value, not per row. A failure part-way is harmless: the next cycle reads the
  // values back and sends what is still different.
  for (const [success, ids] of idsByValue(updates)) {
    await send<ResultSetHeader>(
      ctx,
      'update',
      'UPDATE multi_interface SET netplan_success = ? WHERE id IN (?)',
      [success, ids],
    );
  }
}

// Groups ids by value, sorted; the last entry for an id wins so no id is written twice.
function idsByValue(updates: readonly StatusUpdate[]): Map<0 | 1, number[]> {
  const latest = new Map<number, 0 | 1>();
  for (const update of updates) latest.set(update.id, update.success);
  const groups = new Map<0 | 1, number[]>();
  for (const [id, success] of latest) groups.set(success, [...(groups.get(success) ?? []), id]);
  for (const ids of groups.values()) ids.sort((a, b) => a - b);
  return groups;
}

async function ping(ctx: Context): Promise<void> {
  // SELECT 1 rather than COM_PING: mysql2's ping() takes no timeout, and a black-holed server must not
  // hang verification.
  await send<RowDataPacket[]>(ctx, 'other', 'SELECT 1', []);
}

async function close(ctx: Context): Promise<void> {
  ctx.closed = true;
  try {
    await endPool(ctx);
  } catch (err) {
    throw storeError(err, 'connect', ctx.settings);
  }
}

// Ends the pool's connections; the next statement (unless closed) creates a new pool.
async function endPool(ctx: Context): Promise<void> {
  // Let pending KILL QUERY statements reach the server first, or their waits would outlive the agent.
  await Promise.all(ctx.kills);
  const pool = ctx.pool;
  ctx.pool = null;
  await pool?.end();
}

function poolOf(ctx: Context): Pool {
  if (ctx.closed) throw new AgentError('db_connection', 'database connect failed: the store is closed');
  if (ctx.pool === null) {
    const pool = createPool(poolOptions(ctx.settings));
    pool.on('connection', () => (ctx.stats.connects += 1));
    ctx.pool = pool;
  }
  return ctx.pool;
}

// Sends one statement on its own pooled connection, bounded by queryTimeoutMs.
async function send<T extends RowDataPacket[] | ResultSetHeader>(
  ctx: Context,
  kind: StatementKind,
  sql: string,
  values: readonly unknown[],
): Promise<T> {
  const conn = await acquire(ctx);
  count(ctx.stats, kind);
  try {
    const [result] = await conn.query<T>({ sql, values: [...values], timeout: ctx.settings.queryTimeoutMs });
    conn.release();
    return result;
  } catch (err) {
    discard(ctx, conn, err);
    throw storeError(err, 'query', ctx.settings);
  }
}

async function acquire(ctx: Context): Promise<PoolConnection> {
  const pool = poolOf(ctx);
  try {
    return await pool.getConnection();
  } catch (err) {
    throw storeError(err, 'connect', ctx.settings);
  }
}

function count(stats: StoreStats, kind: StatementKind): void {
  if (kind === 'select') stats.selects += 1;
  if (kind === 'update') stats.updates += 1;
}

// After a failed statement: keep a healthy connection, drop a dead one, abandon a timed-out one.
function discard(ctx: Context, conn: PoolConnection, err: unknown): void {
  const info = driverInfo(err);
  if (info.code === QUERY_TIMEOUT) return abandon(ctx, conn);
  if (info.fatal === true) return conn.destroy();
  conn.release();
}

// mysql2's timeout only stops waiting: the statement keeps running on the server and the connection
// stays busy until it ends, so released it would block the pool. Closing it is not enough either: an
// InnoDB row-lock wait outlives its client (innodb_lock_wait_timeout, 50 s), and a timed-out UPDATE
// would still land once the lock is freed, after the agent has reported it failed. So the server is
// also asked to stop the statement.
function abandon(ctx: Context, conn: PoolConnection): void {
  const threadId = conn.threadId;
  // Late packets or a reset on a socket we gave up on must not surface as an unhandled 'error' event.
  conn.connection.on('error', ignore);
  conn.destroy();
  const kill: Promise<void> = killQuery(ctx, threadId).finally(() => ctx.kills.delete(kill));
  ctx.kills.add(kill);
}

// Best effort, never rejects. A user may always kill its own threads, so no extra privilege is needed.
async function killQuery(ctx: Context, threadId: number): Promise<void> {
  let conn: PoolConnection | undefined;
  try {
    conn = await poolOf(ctx).getConnection();
    await conn.query({ sql: 'KILL QUERY ?', values: [threadId], timeout: ctx.settings.queryTimeoutMs });
    conn.release();
  } catch {
    // Unreachable or slow again: the server ends the wait itself, later.
    conn?.destroy();
  }
}

function ignore(): void {}

// mysql2's code for its client-side per-statement timeout.
const QUERY_TIMEOUT = 'PROTOCOL_SEQUENCE_TIMEOUT';

// Codes that mean the server was not (or no longer) reachable, as opposed to a failed SQL statement.
const CONNECTION_CODES: ReadonlySet<string> = new Set([
  QUERY_TIMEOUT,
  'PROTOCOL_CONNECTION_LOST',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
]);

interface DriverInfo {
  message: string;
  code?: string;
  errno?: number;
  sqlState?: string;
  fatal?: boolean;
}

function driverInfo(err: unknown): DriverInfo {
  if (!(err instanceof Error)) return { message: String(err) };
  const e = err as Error & Record<'code' | 'errno' | 'sqlState' | 'fatal', unknown>;
  const info: DriverInfo = { message: e.message };
  if (typeof e.code === 'string') info.code = e.code;
  if (typeof e.errno === 'number') info.errno = e.errno;
  if (typeof e.sqlState === 'string') info.sqlState = e.sqlState;
  if (typeof e.fatal === 'boolean') info.fatal = e.fatal;
  return info;
}

// Anything failing while getting a connection is 'db_connection' (refused, unreachable, access denied,
// too many connections); during a statement, only timeouts and lost connections are. The driver's error
// is not kept as `cause`, and its message is scrubbed of the password, so nothing logged can leak it.
function storeError(err: unknown, phase: 'connect' | 'query', settings: StoreSettings): AgentError {
  const info = driverInfo(err);
  const unreachable = phase === 'connect' || info.fatal === true || CONNECTION_CODES.has(info.code ?? '');
  const reason =
    info.code === QUERY_TIMEOUT
      ? `no answer within ${settings.queryTimeoutMs} ms`
      : redact(info.message, settings.password);
  return new AgentError(unreachable ? 'db_connection' : 'db_query', `database ${phase} failed: ${reason}`, {
    code: info.code,
    errno: info.errno,
    sqlState: info.sqlState,
    host: settings.host,
    port: settings.port,
    database: settings.database,
  });
}

function redact(text: string, secret: string): string {
  return secret === '' ? text : text.split(secret).join('***');
}
