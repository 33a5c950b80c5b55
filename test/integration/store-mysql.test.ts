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
  return (await store.rowsForNode(node)).map((row) => row.id);
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

describe('rows of this node (SPEC §2 node-name rule)', () => {
  it('matches equal names and names equal up to the first dot, in both directions', async () => {
    const exact = await db.insertRow({ attached_node_name: 'worker-1' });
    const fqdn = await db.insertRow({ attached_node_name: 'worker-1.novalocal' });
    const upper = await db.insertRow({ attached_node_name: 'WORKER-1' });
    const otherDomain = await db.insertRow({ attached_node_name: 'worker-1.cluster.local' });
    await db.insertRow({ attached_node_name: 'worker-10' });
    await db.insertRow({ attached_node_name: 'worker-1x.novalocal' });
    await db.insertRow({ attached_node_name: 'worker-2' });
    await db.insertRow({ attached_node_name: 'worker' });
    await db.insertRow({ attached_node_name: null });
    const store = openStore();

    const mine = [exact, fqdn, upper, otherDomain];
    expect(await ids(store, 'worker-1')).toEqual(mine);
    expect(await ids(store, 'worker-1.novalocal')).toEqual(mine);
    expect(await ids(store, 'worker-2')).toHaveLength(1);
    expect(await ids(store, 'worker-3')).toEqual([]);
  });

  it('treats _ % and ! in a node name as plain characters', async () => {
    const underscore = await db.insertRow({ attached_node_name: 'a_b' });
    const underscoreFqdn = await db.insertRow({ attached_node_name: 'a_b.lan' });
    await db.insertRow({ attached_node_name: 'axb' });
    await db.insertRow({ attached_node_name: 'axb.lan' });
    const percentFqdn = await db.insertRow({ attached_node_name: 'a%.lan' });
    await db.insertRow({ attached_node_name: 'abc.lan' });
    const bangFqdn = await db.insertRow({ attached_node_name: 'a!b.lan' });
    const store = openStore();

    expect(await ids(store, 'a_b')).toEqual([underscore, underscoreFqdn]);
    expect(await ids(store, 'axb.other')).not.toContain(underscoreFqdn);
    expect(await ids(store, 'a%')).toEqual([percentFqdn]);
    expect(await ids(store, 'a!b')).toEqual([bangFqdn]);
  });

  it('returns the rows sorted by id whatever the insertion order', async () => {
    await db.insertRow({ id: 30 });
    await db.insertRow({ id: 10 });
    await db.insertRow({ id: 20 });
    expect(await ids(openStore(), 'worker-1')).toEqual([10, 20, 30]);
  });

  it('leaves out rows with deleted_at when filterDeleted is on, and keeps them when off', async () => {
    const live = await db.insertRow();
    const deleted = await db.insertRow({ deleted_at: '2024-05-01 12:00:00' });
    expect(await ids(openStore({ filterDeleted: true }), 'worker-1')).toEqual([live]);
    expect(await ids(openStore({ filterDeleted: false }), 'worker-1')).toEqual([live, deleted]);
  });
});

describe('values as the driver gives them', () => {
  it('returns numbers for id, netplan_success and mtu, null for NULL, strings as stored', async () => {
    const jumbo = await db.insertRow({ mtu: 9000, netplan_success: 1, macaddress: 'FA-16-3E-AA-BB-CC' });
    const nulls = await db.insertRow({ mtu: null, address: null, netplan_success: null });
    const bad = await db.insertRow({ address: '1.2.3.4;reboot', cidr: 'not a cidr' });
    const rows = await openStore().rowsForNode('worker-1');

    expect(rows[0]).toMatchObject({
      id: jumbo,
      mtu: 9000,
      netplan_success: 1,
      macaddress: 'FA-16-3E-AA-BB-CC',
    });
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
    await db.insertRow({ subnet_id: subnet, cidr: null });
    const [row] = await openStore().rowsForNode('worker-1');
    expect(row?.cidr).toBeNull();
  });

  it("fills a NULL cidr from the table, and a row's own cidr wins", async () => {
    await db.setSubnetTable([{ subnet_id: subnet, cidr: '10.20.0.0/16' }]);
    const fromTable = await db.insertRow({ subnet_id: subnet, cidr: null });
    const own = await db.insertRow({ subnet_id: subnet, cidr: '192.168.7.0/24' });
    const unknownSubnet = await db.insertRow({ cidr: null });
    const rows = await openStore().rowsForNode('worker-1');
    expect(rows.map((r) => [r.id, r.cidr])).toEqual([
      [fromTable, '10.20.0.0/16'],
      [own, '192.168.7.0/24'],
      [unknownSubnet, null],
    ]);
  });

  it('never duplicates a row, and leaves an ambiguous subnet NULL', async () => {
    // A controller's table without a unique subnet_id.
    await db.admin.query('CREATE TABLE multi_subnet (subnet_id VARCHAR(36), cidr VARCHAR(18))');
    await db.admin.query('INSERT INTO multi_subnet VALUES (?, ?), (?, ?), (?, ?), (?, ?)', [
      'same',
      '10.1.0.0/16',
      'same',
      '10.1.0.0/16',
      'split',
      '10.2.0.0/16',
      'split',
      '10.3.0.0/16',
    ]);
    const same = await db.insertRow({ subnet_id: 'same', cidr: null });
    const split = await db.insertRow({ subnet_id: 'split', cidr: null });
    const rows = await openStore().rowsForNode('worker-1');
    expect(rows.map((r) => [r.id, r.cidr])).toEqual([
      [same, '10.1.0.0/16'],
      [split, null],
    ]);
  });

  it('ignores a multi_subnet table without the expected columns', async () => {
    await db.admin.query('CREATE TABLE multi_subnet (id INT, network VARCHAR(18))');
    const id = await db.insertRow({ cidr: null });
    expect((await openStore().rowsForNode('worker-1')).map((r) => [r.id, r.cidr])).toEqual([[id, null]]);
  });

  it('fails one call when the table disappears, then probes again and works without it', async () => {
    await db.setSubnetTable([{ subnet_id: subnet, cidr: '10.20.0.0/16' }]);
    const id = await db.insertRow({ subnet_id: subnet, cidr: null });
    const store = openStore();
    expect((await store.rowsForNode('worker-1'))[0]?.cidr).toBe('10.20.0.0/16');

    await db.setSubnetTable(null);
    const err = await rejection(store.rowsForNode('worker-1'));
    expect(err.kind).toBe('db_query');
    expect(err.retryable).toBe(true);
    expect(err.details['code']).toBe('ER_NO_SUCH_TABLE');
    expect((await store.rowsForNode('worker-1')).map((r) => [r.id, r.cidr])).toEqual([[id, null]]);
  });
});

describe('statements sent', () => {
  it('probes once, then costs exactly one SELECT per call', async () => {
    await db.insertRow();
    const store = openStore();
    await store.rowsForNode('worker-1');
    expect(store.stats).toEqual({ selects: 2, updates: 0 });
    await store.rowsForNode('worker-1');
    expect(store.stats).toEqual({ selects: 3, updates: 0 });
    await store.rowsForNode('worker-1.novalocal');
    expect(store.stats).toEqual({ selects: 4, updates: 0 });
  });

  it('counts ping as neither a SELECT nor an UPDATE', async () => {
    const store = openStore();
    await store.ping();
    expect(store.stats).toEqual({ selects: 0, updates: 0 });
  });
});

describe('writeStatus', () => {
  it('writes each value with at most one UPDATE per distinct value', async () => {
    const a = await db.insertRow({ netplan_success: 0 });
    const b = await db.insertRow({ netplan_success: 0 });
    const c = await db.insertRow({ netplan_success: 1 });
    const untouched = await db.insertRow({ netplan_success: 0 });
    const store = openStore();

    await store.writeStatus([
      { id: b, success: 1 },
      { id: c, success: 0 },
      { id: a, success: 1 },
    ]);

    expect(store.stats).toEqual({ selects: 0, updates: 2 });
    expect([await db.readStatus(a), await db.readStatus(b), await db.readStatus(c)]).toEqual([1, 1, 0]);
    expect(await db.readStatus(untouched)).toBe(0);
    expect((await store.rowsForNode('worker-1')).map((r) => r.netplan_success)).toEqual([1, 1, 0, 0]);
  });

  it('sends one UPDATE when every row gets the same value', async () => {
    const a = await db.insertRow();
    const b = await db.insertRow();
    const store = openStore();
    await store.writeStatus([
      { id: a, success: 1 },
      { id: b, success: 1 },
    ]);
    expect(store.stats.updates).toBe(1);
    expect([await db.readStatus(a), await db.readStatus(b)]).toEqual([1, 1]);
  });

  it('sends nothing for an empty list, even with the database down', async () => {
    const down = openStore({ port: 1, connectTimeoutMs: 500 });
    await down.writeStatus([]);
    expect(down.stats).toEqual({ selects: 0, updates: 0 });
  });

  it('writes only netplan_success', async () => {
    const id = await db.insertRow({ address: '192.168.100.77', mtu: 1400 });
    const neighbour = await db.insertRow();
    // Every column but the one written and the controller's ON UPDATE timestamp.
    const others =
      'SELECT id, port_id, subnet_id, macaddress, attached_node_name, address, cidr, mtu, created_at, deleted_at' +
      ' FROM multi_interface ORDER BY id';
    const [before] = await db.admin.query<RowDataPacket[]>(others);
    await openStore().writeStatus([{ id, success: 1 }]);
    const [after] = await db.admin.query<RowDataPacket[]>(others);
    expect(after).toEqual(before);
    expect([await db.readStatus(id), await db.readStatus(neighbour)]).toEqual([1, 0]);
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
    expect(store.stats).toEqual({ selects: 0, updates: 0 });
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

  it('reports an SQL error as db_query', async () => {
    const store = openStore();
    await db.admin.query('RENAME TABLE multi_interface TO multi_interface_moved');
    try {
      const err = await rejection(store.rowsForNode('worker-1'));
      expect(err.kind).toBe('db_query');
    } finally {
      await db.admin.query('RENAME TABLE multi_interface_moved TO multi_interface');
    }
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
      expect((await store.rowsForNode('worker-1')).map((r) => [r.id, r.cidr])).toEqual([[id, '10.9.0.0/16']]);
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
