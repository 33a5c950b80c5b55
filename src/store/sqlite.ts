/**
 * The embedded desired-state store on SQLite (better-sqlite3): the same table, rule and costs as the
 * MySQL store (./mysql.ts), for a machine without a database server. Selected explicitly
 * (DB_URL=sqlite:PATH), never as a fallback.
 *
 * The agent never creates the database file: a missing or unreadable file is an unreachable store
 * (retryable 'db_connection'), so a typo in the path keeps the host as it is instead of reading an empty
 * table and removing every interface. `createSqliteDatabase` (the rows command, tests) creates it.
 */
import { readFile } from 'node:fs/promises';
import Database from 'better-sqlite3';
import { AgentError } from '../core/errors.js';
import { shortName } from '../core/node-name.js';
import { splitNodeRows, type NodeRows } from './node-rows.js';
import type { DesiredStore, StatusUpdate, StoreStats } from './store.js';
import { packageFile } from '../package-files.js';

export interface SqliteStoreOptions {
  /** SPEC §2: false for controllers that use deleted_at for their own bookkeeping and hard-delete rows. */
  filterDeleted: boolean;
  /** How long a statement waits for another process's lock (the sqlite3 shell, the rows command). */
  busyTimeoutMs?: number;
}

interface Context {
  readonly path: string;
  readonly options: SqliteStoreOptions;
  readonly stats: StoreStats;
  db: Database.Database | null;
  closed: boolean;
  /** Whether multi_subnet(subnet_id, cidr) exists; null until probed, and again after the schema moved. */
  subnetTable: boolean | null;
}

type StatementKind = 'select' | 'update' | 'other';

const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

/**
 * Creates the store without opening the file: it may not exist yet when the agent starts, and the agent
 * must keep running. Every call then rejects with a retryable AgentError('db_connection').
 */
export function createSqliteStore(path: string, options: SqliteStoreOptions): DesiredStore {
  const ctx: Context = {
    path,
    options,
    stats: { selects: 0, updates: 0, connects: 0 },
    db: null,
    closed: false,
    subnetTable: null,
  };
  // better-sqlite3 is synchronous; the port is async so both stores look the same to the agent.
  return {
    rowsForNode: (nodeName, ownedIds = []) => settle(() => rowsForNode(ctx, nodeName, ownedIds)),
    writeStatus: (updates) => settle(() => writeStatus(ctx, updates)),
    ping: () =>
      settle(() => {
        run(ctx, 'other', (db) => db.prepare('SELECT 1').get());
      }),
    // A file handle costs the database nothing: kept between cycles.
    idle: () => Promise.resolve(),
    close: () =>
      settle(() => {
        ctx.closed = true;
        ctx.db?.close();
        ctx.db = null;
      }),
    get stats() {
      return { ...ctx.stats };
    },
  };
}

/** A synchronous call as a promise: what it throws becomes the rejection. */
function settle<T>(call: () => T): Promise<T> {
  return new Promise((resolve) => resolve(call()));
}

/** Creates (or completes) a database file with sql/schema.sqlite.sql; for the rows command and tests. */
export async function createSqliteDatabase(path: string): Promise<void> {
  const schema = await readFile(packageFile(import.meta.url, 'sql/schema.sqlite.sql'), 'utf8');
  const db = new Database(path);
  try {
    db.exec(schema);
  } finally {
    db.close();
  }
}

function rowsForNode(ctx: Context, nodeName: string, ownedIds: readonly number[]): NodeRows {
  const withSubnets = subnetTableExists(ctx);
  const query = nodeRowsQuery(nodeName, ownedIds, withSubnets, ctx.options.filterDeleted);
  let rows: Record<string, unknown>[];
  try {
    rows = run(
      ctx,
      'select',
      (db) => db.prepare(query.sql).all(...query.values) as Record<string, unknown>[],
    );
  } catch (err) {
    // The subnet table (or a column of it) went away or appeared differently: probe again next call.
    if (err instanceof AgentError && err.details['schemaChange'] === true) ctx.subnetTable = null;
    throw err;
  }
  // SQL narrowed (LIKE is case-insensitive for ASCII); the exact rule is the core's, applied here.
  return splitNodeRows(rows, nodeName, ownedIds);
}

// SQLite compares with `=` case-sensitively but LIKE case-insensitively (ASCII), so both branches are
// LIKE: the short name alone, or the short name and a domain. It may return more than the rule, never less.
// The rows owned files name come in the same statement, by id.
function nodeRowsQuery(
  nodeName: string,
  ownedIds: readonly number[],
  withSubnets: boolean,
  filterDeleted: boolean,
): { sql: string; values: (string | number)[] } {
  const short = escapeLike(shortName(nodeName));
  const cidr = withSubnets ? `COALESCE(mi.cidr, ${SUBNET_CIDR})` : 'mi.cidr';
  const deleted = filterDeleted ? ' AND mi.deleted_at IS NULL' : '';
  const owned = ownedIds.length > 0 ? ` OR mi.id IN (${ownedIds.map(() => '?').join(', ')})` : '';
  const sql =
    'SELECT mi.id, mi.port_id, mi.subnet_id, mi.macaddress, mi.attached_node_name,' +
    ' COALESCE(mi.netplan_success, 0) AS netplan_success,' +
    ` mi.address, ${cidr} AS cidr, mi.mtu` +
    ' FROM multi_interface mi' +
    " WHERE (mi.attached_node_name LIKE ? ESCAPE '!' OR mi.attached_node_name LIKE ? ESCAPE '!'" +
    `${owned})${deleted} ORDER BY mi.id`;
  return { sql, values: [short, `${short}.%`, ...ownedIds] };
}

// As in MySQL: a subquery so a non-unique multi_subnet never duplicates a row; ambiguous means NULL.
const SUBNET_CIDR =
  '(SELECT CASE WHEN COUNT(DISTINCT ms.cidr) = 1 THEN MIN(ms.cidr) END' +
  ' FROM multi_subnet ms WHERE ms.subnet_id = mi.subnet_id)';

function escapeLike(value: string): string {
  return value.replace(/[!%_]/g, '!$&');
}

const SUBNET_PROBE = "SELECT name FROM pragma_table_info('multi_subnet') WHERE name IN ('subnet_id', 'cidr')";

function subnetTableExists(ctx: Context): boolean {
  if (ctx.subnetTable !== null) return ctx.subnetTable;
  const columns = run(ctx, 'select', (db) => db.prepare(SUBNET_PROBE).all());
  ctx.subnetTable = columns.length === 2;
  return ctx.subnetTable;
}

function writeStatus(ctx: Context, updates: readonly StatusUpdate[]): void {
  for (const [success, ids] of idsByValue(updates)) {
    const marks = ids.map(() => '?').join(', ');
    run(ctx, 'update', (db) =>
      db
        .prepare(`UPDATE multi_interface SET netplan_success = ? WHERE id IN (${marks})`)
        .run(success, ...ids),
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

// Runs one statement on the (lazily opened) database, counting it once the file is open.
function run<T>(ctx: Context, kind: StatementKind, statement: (db: Database.Database) => T): T {
  const db = open(ctx);
  if (kind === 'select') ctx.stats.selects += 1;
  if (kind === 'update') ctx.stats.updates += 1;
  try {
    return statement(db);
  } catch (err) {
    throw storeError(err, 'query', ctx.path);
  }
}

function open(ctx: Context): Database.Database {
  if (ctx.closed) throw new AgentError('db_connection', 'database connect failed: the store is closed');
  if (ctx.db !== null) return ctx.db;
  try {
    const db = new Database(ctx.path, {
      fileMustExist: true,
      timeout: ctx.options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
    });
    // Not a database (or a truncated one) fails here, at open, rather than at the first query.
    db.pragma('schema_version');
    ctx.db = db;
    ctx.stats.connects += 1;
    return db;
  } catch (err) {
    throw storeError(err, 'connect', ctx.path);
  }
}

// Could not open, a lock held past the busy timeout, or the file failing underneath: the store is
// unreachable. Anything else (no such table, a malformed statement) is a failed query.
const CONNECTION_CODES: ReadonlySet<string> = new Set([
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_CANTOPEN',
  'SQLITE_NOTADB',
  'SQLITE_IOERR',
  'SQLITE_CORRUPT',
  'SQLITE_READONLY',
  'SQLITE_FULL',
  'SQLITE_PROTOCOL',
]);

function storeError(err: unknown, phase: 'connect' | 'query', path: string): AgentError {
  const message = err instanceof Error ? err.message : String(err);
  const raw = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  const code = typeof raw === 'string' ? raw : undefined;
  const primary = code?.replace(/^(SQLITE_[A-Z]+).*$/, '$1');
  const unreachable = phase === 'connect' || CONNECTION_CODES.has(primary ?? '');
  const schemaChange = /^no such (table|column)/.test(message);
  return new AgentError(unreachable ? 'db_connection' : 'db_query', `database ${phase} failed: ${message}`, {
    code,
    path,
    ...(schemaChange ? { schemaChange } : {}),
  });
}
