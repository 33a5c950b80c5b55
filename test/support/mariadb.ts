/**
 * A throwaway database on the test MariaDB (127.0.0.1:3306, root, empty password by default; override
 * with TEST_DB_HOST, TEST_DB_PORT, TEST_DB_USER, TEST_DB_PASSWORD), loaded with the SQL the product ships.
 * Every test file makes its own, so files can run in parallel against one server.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createConnection } from 'mysql2/promise';
import type { Connection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { StoreSettings } from '../../src/store/mysql.js';

/** A multi_interface row as inserted: text columns take any string, so bad values are easy to plant. */
export interface RawRow {
  id: number;
  port_id: string;
  subnet_id: string;
  macaddress: string;
  attached_node_name: string | null;
  netplan_success: number | null;
  address: string | null;
  cidr: string | null;
  mtu: number | null;
  /** e.g. '2024-05-01 12:00:00'; null for a live row. */
  deleted_at: string | null;
}

export interface SubnetRow {
  subnet_id: string;
  cidr: string | null;
}

export interface TestDatabase {
  name: string;
  /** Store settings for this database, as root; tune timeouts with a spread. */
  settings: StoreSettings;
  /** Root connection with multipleStatements, already using this database. */
  admin: Connection;
  /** Inserts a row; a field left out gets a valid default, an explicit null stays NULL. Returns its id. */
  insertRow(row?: Partial<RawRow>): Promise<number>;
  /** Current netplan_success of a row, or undefined when the row does not exist. */
  readStatus(id: number): Promise<number | null | undefined>;
  /** Creates multi_subnet (sql/multi-subnet.sql) holding exactly these rows, or drops it for null. */
  setSubnetTable(rows: readonly SubnetRow[] | null): Promise<void>;
  /** Drops the database and closes the admin connection. */
  drop(): Promise<void>;
}

const SERVER = {
  host: process.env['TEST_DB_HOST'] ?? '127.0.0.1',
  port: Number(process.env['TEST_DB_PORT'] ?? 3306),
  user: process.env['TEST_DB_USER'] ?? 'root',
  password: process.env['TEST_DB_PASSWORD'] ?? '',
};

/** Reads a file the product ships under sql/. */
export function shippedSql(file: string): Promise<string> {
  return readFile(new URL(`../../sql/${file}`, import.meta.url), 'utf8');
}

export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const name = databaseName(label);
  const admin = await createConnection({ ...SERVER, multipleStatements: true });
  await admin.query(`CREATE DATABASE \`${name}\`; USE \`${name}\``);
  await admin.query(await shippedSql('schema.sql'));
  await admin.query(await shippedSql('index.sql'));
  await admin.query(await shippedSql('fleet.sql'));
  let inserted = 0;
  return {
    name,
    settings: {
      ...SERVER,
      database: name,
      connectTimeoutMs: 2_000,
      queryTimeoutMs: 5_000,
      filterDeleted: true,
    },
    admin,
    insertRow: (row = {}) => insertRow(admin, withDefaults(row, (inserted += 1))),
    readStatus: (id) => readStatus(admin, id),
    setSubnetTable: (rows) => setSubnetTable(admin, rows),
    drop: () => drop(admin, name),
  };
}

// Unique per call, readable in SHOW DATABASES, within MariaDB's 64-character limit.
function databaseName(label: string): string {
  const safe = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, 40);
  return `mnt_${safe}_${randomBytes(4).toString('hex')}`;
}

function withDefaults(row: Partial<RawRow>, n: number): Omit<RawRow, 'id'> & { id: number | null } {
  const pick = <K extends keyof RawRow>(key: K, fallback: RawRow[K]): RawRow[K] =>
    row[key] === undefined ? fallback : row[key];
  return {
    id: row.id ?? null,
    port_id: pick('port_id', randomUUID()),
    subnet_id: pick('subnet_id', randomUUID()),
    macaddress: pick('macaddress', macFor(n)),
    attached_node_name: pick('attached_node_name', 'worker-1'),
    netplan_success: pick('netplan_success', 0),
    address: pick('address', `192.168.100.${10 + (n % 240)}`),
    cidr: pick('cidr', '192.168.100.0/24'),
    mtu: pick('mtu', 1500),
    deleted_at: pick('deleted_at', null),
  };
}

// OpenStack's fa:16:3e prefix; the counter keeps MACs unique within one database.
function macFor(n: number): string {
  const hex = n.toString(16).padStart(6, '0');
  return `fa:16:3e:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`;
}

async function insertRow(
  admin: Connection,
  row: Omit<RawRow, 'id'> & { id: number | null },
): Promise<number> {
  const [result] = await admin.query<ResultSetHeader>('INSERT INTO multi_interface SET ?', [row]);
  return result.insertId;
}

async function readStatus(admin: Connection, id: number): Promise<number | null | undefined> {
  const [rows] = await admin.query<RowDataPacket[]>(
    'SELECT netplan_success FROM multi_interface WHERE id = ?',
    [id],
  );
  return (rows[0] as { netplan_success: number | null } | undefined)?.netplan_success;
}

async function setSubnetTable(admin: Connection, rows: readonly SubnetRow[] | null): Promise<void> {
  await admin.query('DROP TABLE IF EXISTS multi_subnet');
  if (rows === null) return;
  await admin.query(await shippedSql('multi-subnet.sql'));
  if (rows.length === 0) return;
  await admin.query('INSERT INTO multi_subnet (subnet_id, cidr) VALUES ?', [
    rows.map((r) => [r.subnet_id, r.cidr]),
  ]);
}

async function drop(admin: Connection, name: string): Promise<void> {
  try {
    await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
  } finally {
    await admin.end();
  }
}
