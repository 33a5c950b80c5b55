/**
 * The DesiredStore contract (src/store/store.ts), run against both stores: MySQL/MariaDB
 * (src/store/mysql.ts, on the test server) and the embedded SQLite store (src/store/sqlite.ts, a temp
 * file). What only one of them has (timeouts, refused logins, grants) stays in its own file.
 */
import { existsSync } from 'node:fs';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AgentError } from '../../src/core/errors.js';
import { createStore } from '../../src/main.js';
import { createMysqlStore } from '../../src/store/mysql.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import type { DesiredStore } from '../../src/store/store.js';
import { createTestDatabase } from '../support/mariadb.js';
import type { RawRow, SubnetRow, TestDatabase } from '../support/mariadb.js';
import { createTestSqlite } from '../support/sqlite.js';
import type { TestSqlite } from '../support/sqlite.js';

/** One store under test, with the database behind it. */
interface Subject {
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
  /** Empties multi_interface and drops multi_subnet. */
  reset(): Promise<void>;
  open(options?: { filterDeleted?: boolean }): DesiredStore;
  /** A store whose database cannot be reached. */
  openUnreachable(): DesiredStore;
  insertRow(row?: Partial<RawRow>): Promise<number>;
  readStatus(id: number): Promise<number | null | undefined>;
  setSubnetTable(rows: readonly SubnetRow[] | null): Promise<void>;
  /** A statement on the test's own connection. */
  exec(sql: string, values?: readonly (string | number | null)[]): Promise<void>;
  select(sql: string): Promise<unknown[]>;
}

function mysqlSubject(): Subject {
  let db: TestDatabase;
  return {
    setUp: async () => {
      db = await createTestDatabase('store_contract');
    },
    tearDown: () => db.drop(),
    reset: async () => {
      await db.admin.query('TRUNCATE TABLE multi_interface');
      await db.setSubnetTable(null);
    },
    open: (options = {}) => createMysqlStore({ ...db.settings, ...options }),
    openUnreachable: () => createMysqlStore({ ...db.settings, port: 1, connectTimeoutMs: 500 }),
    insertRow: (row) => db.insertRow(row),
    readStatus: (id) => db.readStatus(id),
    setSubnetTable: (rows) => db.setSubnetTable(rows),
    exec: async (sql, values = []) => {
      await db.admin.query(sql, [...values]);
    },
    select: async (sql) => (await db.admin.query<RowDataPacket[]>(sql))[0],
  };
}

function sqliteSubject(): Subject {
  let db: TestSqlite;
  return {
    setUp: async () => {
      db = await createTestSqlite();
    },
    tearDown: () => settle(() => db.drop()),
    reset: async () => {
      db.admin.exec('DELETE FROM multi_interface');
      await db.setSubnetTable(null);
    },
    open: (options = {}) => createSqliteStore(db.path, { filterDeleted: options.filterDeleted ?? true }),
    openUnreachable: () => createSqliteStore(`${db.path}.missing`, { filterDeleted: true }),
    insertRow: (row) => settle(() => db.insertRow(row)),
    readStatus: (id) => settle(() => db.readStatus(id)),
    setSubnetTable: (rows) => db.setSubnetTable(rows),
    exec: (sql, values = []) =>
      settle(() => {
        db.admin.prepare(sql).run(...values);
      }),
    select: (sql) => settle(() => db.admin.prepare(sql).all()),
  };
}

function settle<T>(call: () => T): Promise<T> {
  return new Promise((resolve) => resolve(call()));
}

async function rejection(promise: Promise<unknown>): Promise<AgentError> {
  const err = await promise.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AgentError);
  return err as AgentError;
}

describe.each([
  ['MySQL', mysqlSubject()],
  ['SQLite', sqliteSubject()],
])('DesiredStore contract: %s', (_name, subject) => {
  const open: DesiredStore[] = [];

  function openStore(options: { filterDeleted?: boolean } = {}): DesiredStore {
    const store = subject.open(options);
    open.push(store);
    return store;
  }

  async function ids(store: DesiredStore, node: string): Promise<number[]> {
    return (await store.rowsForNode(node)).rows.map((row) => row.id);
  }

  beforeAll(() => subject.setUp());
  afterAll(() => subject.tearDown());
  beforeEach(() => subject.reset());
  afterEach(async () => {
    await Promise.all(open.splice(0).map((store) => store.close()));
  });

  describe('rows of this node (SPEC §2 node-name rule)', () => {
    it('matches equal names and names equal up to the first dot, in both directions, in any case', async () => {
      const exact = await subject.insertRow({ attached_node_name: 'worker-1' });
      const fqdn = await subject.insertRow({ attached_node_name: 'worker-1.novalocal' });
      const upper = await subject.insertRow({ attached_node_name: 'WORKER-1' });
      const otherDomain = await subject.insertRow({ attached_node_name: 'Worker-1.cluster.local' });
      await subject.insertRow({ attached_node_name: 'worker-10' });
      await subject.insertRow({ attached_node_name: 'worker-1x.novalocal' });
      await subject.insertRow({ attached_node_name: 'worker-2' });
      await subject.insertRow({ attached_node_name: 'worker' });
      await subject.insertRow({ attached_node_name: null });
      const store = openStore();

      const mine = [exact, fqdn, upper, otherDomain];
      expect(await ids(store, 'worker-1')).toEqual(mine);
      expect(await ids(store, 'worker-1.novalocal')).toEqual(mine);
      expect(await ids(store, 'Worker-1.Other')).toEqual(mine);
      expect(await ids(store, 'worker-2')).toHaveLength(1);
      expect(await ids(store, 'worker-3')).toEqual([]);
    });

    it('treats _ % and ! in a node name as plain characters', async () => {
      const underscore = await subject.insertRow({ attached_node_name: 'a_b' });
      const underscoreFqdn = await subject.insertRow({ attached_node_name: 'a_b.lan' });
      await subject.insertRow({ attached_node_name: 'axb' });
      await subject.insertRow({ attached_node_name: 'axb.lan' });
      const percentFqdn = await subject.insertRow({ attached_node_name: 'a%.lan' });
      await subject.insertRow({ attached_node_name: 'abc.lan' });
      const bangFqdn = await subject.insertRow({ attached_node_name: 'a!b.lan' });
      const store = openStore();

      expect(await ids(store, 'a_b')).toEqual([underscore, underscoreFqdn]);
      expect(await ids(store, 'axb.other')).not.toContain(underscoreFqdn);
      expect(await ids(store, 'a%')).toEqual([percentFqdn]);
      expect(await ids(store, 'a!b')).toEqual([bangFqdn]);
    });

    it('returns the rows sorted by id whatever the insertion order', async () => {
      await subject.insertRow({ id: 30 });
      await subject.insertRow({ id: 10 });
      await subject.insertRow({ id: 20 });
      expect(await ids(openStore(), 'worker-1')).toEqual([10, 20, 30]);
    });

    it('leaves out rows with deleted_at when filterDeleted is on, and keeps them when off', async () => {
      const live = await subject.insertRow();
      const deleted = await subject.insertRow({ deleted_at: '2024-05-01 12:00:00' });
      expect(await ids(openStore({ filterDeleted: true }), 'worker-1')).toEqual([live]);
      expect(await ids(openStore({ filterDeleted: false }), 'worker-1')).toEqual([live, deleted]);
    });
  });

  describe('rows that owned files name (issue 12: a row that is gone, not one that moved)', () => {
    it("returns, beside this node's rows, where the asked-for rows are when they are not this node's", async () => {
      const mine = await subject.insertRow({ attached_node_name: 'worker-1' });
      const moved = await subject.insertRow({ attached_node_name: 'worker-2' });
      const unassigned = await subject.insertRow({ attached_node_name: null });
      const deleted = await subject.insertRow({
        attached_node_name: 'worker-2',
        deleted_at: '2024-05-01 12:00:00',
      });
      const notAsked = await subject.insertRow({ attached_node_name: 'worker-3' });
      const store = openStore();
      const result = await store.rowsForNode('worker-1', [mine, moved, unassigned, deleted, 9999]);
      expect(result.rows.map((row) => row.id)).toEqual([mine]);
      expect(result.elsewhere).toEqual([
        { id: moved, node: 'worker-2' },
        { id: unassigned, node: null },
      ]);
      expect(result.elsewhere.map((row) => row.id)).not.toContain(notAsked);
      expect((await store.rowsForNode('worker-1')).elsewhere).toEqual([]);
    });

    it('asks in the same single SELECT', async () => {
      const moved = await subject.insertRow({ attached_node_name: 'worker-2' });
      const store = openStore();
      await store.rowsForNode('worker-1', [moved]);
      const first = store.stats.selects;
      await store.rowsForNode('worker-1', [moved]);
      expect(store.stats.selects).toBe(first + 1);
    });

    it('with filterDeleted off, a row with deleted_at still counts as where it is attached', async () => {
      const deleted = await subject.insertRow({
        attached_node_name: 'worker-2',
        deleted_at: '2024-05-01 12:00:00',
      });
      const result = await openStore({ filterDeleted: false }).rowsForNode('worker-1', [deleted]);
      expect(result.elsewhere).toEqual([{ id: deleted, node: 'worker-2' }]);
    });
  });

  describe('values as stored', () => {
    it('returns numbers for id, netplan_success and mtu, null for NULL, strings as stored', async () => {
      const jumbo = await subject.insertRow({
        mtu: 9000,
        netplan_success: 1,
        macaddress: 'FA-16-3E-AA-BB-CC',
      });
      const nulls = await subject.insertRow({ mtu: null, address: null, netplan_success: null });
      const bad = await subject.insertRow({ address: '1.2.3.4;reboot', cidr: 'not a cidr' });
      const rows = (await openStore().rowsForNode('worker-1')).rows;

      expect(rows[0]).toMatchObject({
        id: jumbo,
        mtu: 9000,
        netplan_success: 1,
        macaddress: 'FA-16-3E-AA-BB-CC',
      });
      expect(typeof rows[0]?.id).toBe('number');
      expect(typeof rows[0]?.mtu).toBe('number');
      expect(rows[1]).toMatchObject({ id: nulls, mtu: null, address: null, netplan_success: 0 });
      expect(rows[2]).toMatchObject({ id: bad, address: '1.2.3.4;reboot', cidr: 'not a cidr' });
      expect(Object.keys(rows[0] ?? {}).sort()).toEqual(
        [
          'address',
          'attached_node_name',
          'cidr',
          'id',
          'macaddress',
          'mtu',
          'netplan_success',
          'port_id',
          'subnet_id',
        ].sort(),
      );
    });
  });

  describe('multi_subnet fallback for cidr', () => {
    const subnet = '11111111-2222-3333-4444-555555555555';

    it('keeps a NULL cidr NULL when the table does not exist', async () => {
      await subject.insertRow({ subnet_id: subnet, cidr: null });
      const [row] = (await openStore().rowsForNode('worker-1')).rows;
      expect(row?.cidr).toBeNull();
    });

    it("fills a NULL cidr from the table, and a row's own cidr wins", async () => {
      await subject.setSubnetTable([{ subnet_id: subnet, cidr: '10.20.0.0/16' }]);
      const fromTable = await subject.insertRow({ subnet_id: subnet, cidr: null });
      const own = await subject.insertRow({ subnet_id: subnet, cidr: '192.168.7.0/24' });
      const unknownSubnet = await subject.insertRow({ cidr: null });
      const rows = (await openStore().rowsForNode('worker-1')).rows;
      expect(rows.map((r) => [r.id, r.cidr])).toEqual([
        [fromTable, '10.20.0.0/16'],
        [own, '192.168.7.0/24'],
        [unknownSubnet, null],
      ]);
    });

    it('never duplicates a row, and leaves an ambiguous subnet NULL', async () => {
      await subject.exec('CREATE TABLE multi_subnet (subnet_id VARCHAR(36), cidr VARCHAR(18))');
      await subject.exec('INSERT INTO multi_subnet VALUES (?, ?), (?, ?), (?, ?), (?, ?)', [
        'same',
        '10.1.0.0/16',
        'same',
        '10.1.0.0/16',
        'split',
        '10.2.0.0/16',
        'split',
        '10.3.0.0/16',
      ]);
      const same = await subject.insertRow({ subnet_id: 'same', cidr: null });
      const split = await subject.insertRow({ subnet_id: 'split', cidr: null });
      const rows = (await openStore().rowsForNode('worker-1')).rows;
      expect(rows.map((r) => [r.id, r.cidr])).toEqual([
        [same, '10.1.0.0/16'],
        [split, null],
      ]);
    });

    it('ignores a multi_subnet table without the expected columns', async () => {
      await subject.exec('CREATE TABLE multi_subnet (id INT, network VARCHAR(18))');
      const id = await subject.insertRow({ cidr: null });
      expect((await openStore().rowsForNode('worker-1')).rows.map((r) => [r.id, r.cidr])).toEqual([
        [id, null],
      ]);
    });

    it('fails one call when the table disappears, then probes again and works without it', async () => {
      await subject.setSubnetTable([{ subnet_id: subnet, cidr: '10.20.0.0/16' }]);
      const id = await subject.insertRow({ subnet_id: subnet, cidr: null });
      const store = openStore();
      expect((await store.rowsForNode('worker-1')).rows[0]?.cidr).toBe('10.20.0.0/16');

      await subject.setSubnetTable(null);
      const err = await rejection(store.rowsForNode('worker-1'));
      expect(err.kind).toBe('db_query');
      expect(err.retryable).toBe(true);
      expect((await store.rowsForNode('worker-1')).rows.map((r) => [r.id, r.cidr])).toEqual([[id, null]]);
    });
  });

  describe('statements sent', () => {
    it('costs exactly one SELECT per call after the first', async () => {
      await subject.insertRow();
      const store = openStore();
      await store.rowsForNode('worker-1');
      const first = store.stats.selects;
      expect(first).toBeGreaterThanOrEqual(1);
      await store.rowsForNode('worker-1');
      expect(store.stats).toEqual({ selects: first + 1, updates: 0, connects: 1 });
      await store.rowsForNode('worker-1.novalocal');
      expect(store.stats).toEqual({ selects: first + 2, updates: 0, connects: 1 });
    });

    it('counts ping as neither a SELECT nor an UPDATE', async () => {
      const store = openStore();
      await store.ping();
      expect(store.stats).toEqual({ selects: 0, updates: 0, connects: 1 });
    });
  });

  describe('writeStatus', () => {
    it('writes each value with at most one UPDATE per distinct value, and reads them back', async () => {
      const a = await subject.insertRow({ netplan_success: 0 });
      const b = await subject.insertRow({ netplan_success: 0 });
      const c = await subject.insertRow({ netplan_success: 1 });
      const untouched = await subject.insertRow({ netplan_success: 0 });
      const store = openStore();

      await store.writeStatus([
        { id: b, success: 1 },
        { id: c, success: 0 },
        { id: a, success: 1 },
      ]);

      expect(store.stats).toEqual({ selects: 0, updates: 2, connects: 1 });
      expect([await subject.readStatus(a), await subject.readStatus(b), await subject.readStatus(c)]).toEqual(
        [1, 1, 0],
      );
      expect(await subject.readStatus(untouched)).toBe(0);
      expect((await store.rowsForNode('worker-1')).rows.map((r) => r.netplan_success)).toEqual([1, 1, 0, 0]);
    });

    it('sends one UPDATE when every row gets the same value, the last entry of an id winning', async () => {
      const a = await subject.insertRow();
      const b = await subject.insertRow();
      const store = openStore();
      await store.writeStatus([
        { id: a, success: 0 },
        { id: a, success: 1 },
        { id: b, success: 1 },
      ]);
      expect(store.stats.updates).toBe(1);
      expect([await subject.readStatus(a), await subject.readStatus(b)]).toEqual([1, 1]);
    });

    it('sends nothing for an empty list, even with the database unreachable', async () => {
      const down = subject.openUnreachable();
      open.push(down);
      await down.writeStatus([]);
      expect(down.stats).toEqual({ selects: 0, updates: 0, connects: 0 });
    });

    it('writes only netplan_success', async () => {
      const id = await subject.insertRow({ address: '192.168.100.77', mtu: 1400 });
      const neighbour = await subject.insertRow();
      // Every column but the one written and the controller's ON UPDATE timestamp.
      const others =
        'SELECT id, port_id, subnet_id, macaddress, attached_node_name, address, cidr, mtu, created_at, deleted_at' +
        ' FROM multi_interface ORDER BY id';
      const before = await subject.select(others);
      await openStore().writeStatus([{ id, success: 1 }]);
      expect(await subject.select(others)).toEqual(before);
      expect([await subject.readStatus(id), await subject.readStatus(neighbour)]).toEqual([1, 0]);
    });
  });

  describe('failures and close', () => {
    it('rejects every call with a retryable db_connection error when the database cannot be reached', async () => {
      const store = subject.openUnreachable();
      open.push(store);
      for (const call of [
        () => store.rowsForNode('worker-1'),
        () => store.writeStatus([{ id: 1, success: 1 }]),
        () => store.ping(),
      ]) {
        const err = await rejection(call());
        expect(err.kind).toBe('db_connection');
        expect(err.retryable).toBe(true);
      }
      expect(store.stats).toEqual({ selects: 0, updates: 0, connects: 0 });
    });

    it('reports a missing multi_interface as a retryable db_query error, never as no rows', async () => {
      const id = await subject.insertRow();
      const store = openStore();
      await subject.exec('ALTER TABLE multi_interface RENAME TO multi_interface_moved');
      try {
        const err = await rejection(store.rowsForNode('worker-1'));
        expect(err.kind).toBe('db_query');
        expect(err.retryable).toBe(true);
      } finally {
        await subject.exec('ALTER TABLE multi_interface_moved RENAME TO multi_interface');
      }
      expect(await ids(store, 'worker-1')).toEqual([id]);
    });

    it('rejects calls after close with db_connection', async () => {
      await subject.insertRow();
      const store = subject.open();
      await store.rowsForNode('worker-1');
      await store.close();
      const err = await rejection(store.rowsForNode('worker-1'));
      expect(err.kind).toBe('db_connection');
    });
  });
});

describe('the agent picks the store its settings name (createStore)', () => {
  it('opens the SQLite file DB_URL names, and treats a missing file as unreachable, not as empty', async () => {
    const db = await createTestSqlite();
    try {
      const id = db.insertRow();
      const shared = { filterDeleted: true, queryTimeoutMs: 1_000 };
      const store = await createStore({ kind: 'sqlite', path: db.path, ...shared });
      expect((await store.rowsForNode('worker-1')).rows.map((r) => r.id)).toEqual([id]);
      await store.close();

      const missing = await createStore({ kind: 'sqlite', path: `${db.path}.typo`, ...shared });
      const err = await rejection(missing.rowsForNode('worker-1'));
      expect(err.kind).toBe('db_connection');
      expect(existsSync(`${db.path}.typo`)).toBe(false);
      await missing.close();
    } finally {
      db.drop();
    }
  });
});
