/**
 * A throwaway embedded-store database: a temp SQLite file made from sql/schema.sqlite.sql, with the same
 * helpers as a MariaDB test database (./mariadb.ts), so one contract can run against both stores.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createSqliteDatabase } from '../../src/store/sqlite.js';
import type { RawRow, SubnetRow } from './mariadb.js';
import { shippedSql } from './mariadb.js';

export interface TestSqlite {
  /** The database file. */
  path: string;
  /** A second connection for the test's own statements. */
  admin: Database.Database;
  insertRow(row?: Partial<RawRow>): number;
  readStatus(id: number): number | null | undefined;
  setSubnetTable(rows: readonly SubnetRow[] | null): Promise<void>;
  /** Closes the connection and removes the directory. */
  drop(): void;
}

export async function createTestSqlite(): Promise<TestSqlite> {
  const dir = mkdtempSync(join(tmpdir(), 'multinic-sqlite-'));
  const path = join(dir, 'multinic.db');
  await createSqliteDatabase(path);
  const admin = new Database(path);
  let inserted = 0;
  return {
    path,
    admin,
    insertRow: (row = {}) => insertRow(admin, row, (inserted += 1)),
    readStatus: (id) =>
      (
        admin.prepare('SELECT netplan_success FROM multi_interface WHERE id = ?').get(id) as
          { netplan_success: number | null } | undefined
      )?.netplan_success,
    setSubnetTable: async (rows) => {
      admin.exec('DROP TABLE IF EXISTS multi_subnet');
      if (rows === null) return;
      admin.exec(await shippedSql('multi-subnet.sql'));
      const insert = admin.prepare('INSERT INTO multi_subnet (subnet_id, cidr) VALUES (?, ?)');
      for (const r of rows) insert.run(r.subnet_id, r.cidr);
    },
    drop: () => {
      admin.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function insertRow(admin: Database.Database, row: Partial<RawRow>, n: number): number {
  const pick = <K extends keyof RawRow>(key: K, fallback: RawRow[K]): RawRow[K] =>
    row[key] === undefined ? fallback : row[key];
  const hex = n.toString(16).padStart(6, '0');
  const values = {
    id: row.id ?? null,
    port_id: pick('port_id', randomUUID()),
    subnet_id: pick('subnet_id', randomUUID()),
    macaddress: pick('macaddress', `fa:16:3e:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`),
    attached_node_name: pick('attached_node_name', 'worker-1'),
    netplan_success: pick('netplan_success', 0),
    address: pick('address', `192.168.100.${10 + (n % 240)}`),
    cidr: pick('cidr', '192.168.100.0/24'),
    mtu: pick('mtu', 1500),
    deleted_at: pick('deleted_at', null),
  };
  const columns = Object.keys(values);
  const result = admin
    .prepare(
      `INSERT INTO multi_interface (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`,
    )
    .run(values);
  return Number(result.lastInsertRowid);
}
