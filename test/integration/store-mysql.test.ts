/**
 * What only the MySQL store has: connection failures, statement timeouts on a real server, sockets, and
 * sql/grant.sql. The behaviour both stores share is in store-contract.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { createConnection } from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AgentError } from '../../src/core/errors.js';
import { createMysqlStore } from '../../src/store/mysql.js';
import type { DesiredStore, StoreSettings } from '../../src/store/mysql.js';
import { createTestDatabase, shippedSql } from '../support/mariadb.js';
import type { TestDatabase } from '../support/mariadb.js';

let db: TestDatabase;
const open: DesiredStore[] = [];

function openStore(overrides: Partial<StoreSettings> = {}): DesiredStore {
  const store = createMysqlStore({ ...db.settings, ...overrides });
  open.push(store);
  return store;
}

async function ids(store: DesiredStore, node: string): Promise<number[]> {
  return (await store.rowsForNode(node)).rows.map((row) => row.id);
}

async function rejection(promise: Promise<unknown>): Promise<AgentError> {
  const err = await promise.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AgentError);
  return err as AgentError;
}

function connect(overrides: { user?: string; password?: string } = {}): ReturnType<typeof createConnection> {
  const { host, port, user, password, database } = db.settings;
  return createConnection({ host, port, user, password, database, ...overrides });
}

async function eventually(check: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return check();
}

beforeAll(async () => {
  db = await createTestDatabase('store_mysql');
});

afterAll(async () => {
  await db.drop();
});

beforeEach(async () => {
  await db.admin.query('TRUNCATE TABLE multi_interface');
  await db.setSubnetTable(null);
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((store) => store.close()));
});

describe('connections between cycles', () => {
  /** The store's connections as the server counts them (its database is this test's own). */
  async function serverConnections(): Promise<number> {
    const [rows] = await db.admin.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()',
      [db.settings.database],
    );
    return Number(rows[0]?.n);
  }

  it('holds no connection after idle(), and opens one again for the next cycle', async () => {
    await db.insertRow();
    const store = openStore();
    await store.rowsForNode('worker-1');
    await store.writeStatus([{ id: 1, success: 1 }]);
    expect(await serverConnections()).toBe(1);
    await store.idle();
    expect(await eventually(async () => (await serverConnections()) === 0, 2_000)).toBe(true);
    expect(await ids(store, 'worker-1')).toEqual([1]);
    expect(store.stats).toMatchObject({ selects: 3, updates: 1, connects: 2 });
    await store.close();
    expect((await rejection(store.rowsForNode('worker-1'))).kind).toBe('db_connection');
  });

  it('keeps its connection between cycles with DB_KEEP_CONNECTION', async () => {
    const store = openStore({ keepConnection: true });
    await store.rowsForNode('worker-1');
    await store.idle();
    await store.rowsForNode('worker-1');
    expect(await serverConnections()).toBe(1);
    expect(store.stats.connects).toBe(1);
  });

  it('never rejects in idle(), even with the database unreachable', async () => {
    const store = openStore({ port: 1, connectTimeoutMs: 500 });
    await rejection(store.rowsForNode('worker-1'));
    await expect(store.idle()).resolves.toBeUndefined();
  });
});

describe('failures', () => {
  const password = 'Sup3r-Secret-Pa55word';

  it('rejects every call with a retryable db_connection error when nothing listens', async () => {
    const store = openStore({ port: 1, password, connectTimeoutMs: 1_000 });
    for (const call of [
      () => store.rowsForNode('worker-1'),
      () => store.writeStatus([{ id: 1, success: 1 }]),
      () => store.ping(),
    ]) {
      const err = await rejection(call());
      expect(err.kind).toBe('db_connection');
      expect(err.retryable).toBe(true);
      expect(err.message).not.toContain(password);
      expect(JSON.stringify(err.details)).not.toContain(password);
      expect(err.cause).toBeUndefined();
    }
    expect(store.stats).toEqual({ selects: 0, updates: 0, connects: 0 });
  });

  it('reports a refused login as db_connection without the password', async () => {
    const store = openStore({ user: `nobody_${randomBytes(3).toString('hex')}`, password });
    const err = await rejection(store.rowsForNode('worker-1'));
    expect(err.kind).toBe('db_connection');
    expect(err.details['code']).toMatch(/^ER_ACCESS_DENIED/);
    expect(err.message).not.toContain(password);
  });

  it('times out a blocked SELECT, frees the server thread, and works once the lock is gone', async () => {
    const id = await db.insertRow();
    const store = openStore({ queryTimeoutMs: 300 });
    await store.rowsForNode('worker-1');
    const locker = await connect();
    try {
      await locker.query('LOCK TABLES multi_interface WRITE');
      const started = Date.now();
      const err = await rejection(store.rowsForNode('worker-1'));
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(err.kind).toBe('db_connection');
      expect(err.retryable).toBe(true);
      expect(err.message).toContain('300 ms');
      // No wait is left behind on the server.
      expect(await eventually(async () => (await lockWaiters(db.name)) === 0, 3_000)).toBe(true);
    } finally {
      await locker.query('UNLOCK TABLES');
      await locker.end();
    }
    expect(await ids(store, 'worker-1')).toEqual([id]);
  });

  it('times out an UPDATE blocked by a row lock and stops it on the server', async () => {
    const id = await db.insertRow();
    const store = openStore({ queryTimeoutMs: 300 });
    const locker = await connect();
    try {
      await locker.query('START TRANSACTION');
      await locker.query('SELECT id FROM multi_interface WHERE id = ? FOR UPDATE', [id]);
      const err = await rejection(store.writeStatus([{ id, success: 1 }]));
      expect(err.kind).toBe('db_connection');
      // InnoDB would keep this wait for innodb_lock_wait_timeout (50 s) after the client left; KILL QUERY
      // ends it now.
      expect(await eventually(async () => (await blockedUpdates(db.name)) === 0, 2_000)).toBe(true);
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
    expect(await db.readStatus(id)).toBe(0);
    await store.writeStatus([{ id, success: 1 }]);
    expect(await db.readStatus(id)).toBe(1);
  });
});

async function lockWaiters(database: string): Promise<number> {
  const [rows] = await db.admin.query<RowDataPacket[]>(
    "SELECT id FROM information_schema.processlist WHERE db = ? AND state LIKE '%metadata lock%'",
    [database],
  );
  return rows.length;
}

async function blockedUpdates(database: string): Promise<number> {
  const [rows] = await db.admin.query<RowDataPacket[]>(
    "SELECT id FROM information_schema.processlist WHERE db = ? AND info LIKE 'UPDATE multi_interface%'",
    [database],
  );
  return rows.length;
}

describe('close', () => {
  function sockets(): number {
    return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
  }

  it('closes every socket so the process can exit, and rejects calls afterwards', async () => {
    const before = sockets();
    const id = await db.insertRow();
    const store = createMysqlStore(db.settings);
    await store.rowsForNode('worker-1');
    await Promise.all([store.writeStatus([{ id, success: 1 }]), store.ping()]);
    expect(sockets()).toBeGreaterThan(before);

    await store.close();
    expect(await eventually(() => sockets() === before, 2_000)).toBe(true);
    const err = await rejection(store.rowsForNode('worker-1'));
    expect(err.kind).toBe('db_connection');
  });
});

describe('sql/grant.sql', () => {
  it('lets the agent read its rows and write netplan_success, and nothing else', async () => {
    const user = `mnt_agent_${randomBytes(3).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    await db.setSubnetTable([{ subnet_id: 'sub', cidr: '10.9.0.0/16' }]);
    const id = await db.insertRow({ subnet_id: 'sub', cidr: null });
    const grants = (await shippedSql('grant.sql'))
      .replaceAll('multinic_db', db.name)
      .replaceAll("'multinic'@'%'", `'${user}'@'%'`);
    await db.admin.query(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`);
    try {
      await db.admin.query(grants);
      const store = openStore({ user, password });
      expect((await store.rowsForNode('worker-1')).rows.map((r) => [r.id, r.cidr])).toEqual([
        [id, '10.9.0.0/16'],
      ]);
      await store.writeStatus([{ id, success: 1 }]);
      expect(await db.readStatus(id)).toBe(1);

      const agent = await connect({ user, password });
      try {
        await expect(agent.query("UPDATE multi_interface SET address = '1.2.3.4'")).rejects.toMatchObject({
          code: 'ER_COLUMNACCESS_DENIED_ERROR',
        });
        await expect(agent.query('DELETE FROM multi_interface')).rejects.toMatchObject({
          code: 'ER_TABLEACCESS_DENIED_ERROR',
        });
      } finally {
        await agent.end();
      }
    } finally {
      await Promise.all(open.splice(0).map((store) => store.close()));
      await db.admin.query(`DROP USER '${user}'@'%'`);
    }
  });
});
