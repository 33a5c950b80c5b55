/**
 * The shipped SQL (sql/schema.sql, index.sql, multi-subnet.sql, grant.sql), applied as README says on
 * a MariaDB server that enforces privileges; then the agent's own store, logged in as the granted user,
 * does its work, anything beyond is denied, and the query it sends uses the index.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { createConnection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFleetStore } from '../../src/store/fleet.js';
import { createMysqlStore } from '../../src/store/mysql.js';
import type { DesiredStore, StoreSettings } from '../../src/store/mysql.js';
import { haveTool } from '../support/require-tool.js';
import { REPO_ROOT } from './support/helm.js';
import { INSTALL_DB, MARIADBD, startPrivateMariadb } from './support/private-mariadb.js';
import type { PrivateMariadb } from './support/private-mariadb.js';

const DATABASE = 'openstack_net';
const USER = 'agent';
const HOST_PATTERN = '127.0.0.%';
const PASSWORD = 'agent-Pa55';
const INDEX = 'idx_multi_interface_attached_node_name';

const available = haveTool(INSTALL_DB) && haveTool(MARIADBD);

function shipped(file: string): string {
  return readFileSync(join(REPO_ROOT, 'sql', file), 'utf8');
}

// What the header of grant.sql tells the operator to do with sed.
function grantFor(database: string): string {
  return shipped('grant.sql')
    .replaceAll('multinic_db', database)
    .replaceAll("'multinic'@'%'", `'${USER}'@'${HOST_PATTERN}'`);
}

let server: PrivateMariadb;
let admin: Connection;
let agent: Connection;
let settings: StoreSettings;
const stores: DesiredStore[] = [];

function openStore(database = DATABASE): DesiredStore {
  const store = createMysqlStore({ ...settings, database });
  stores.push(store);
  return store;
}

async function denied(sql: string): Promise<string> {
  const outcome = await agent.query(sql).then(
    () => 'allowed',
    (err: { code?: string }) => err.code ?? 'unknown error',
  );
  return outcome;
}

async function insertRows(conn: Connection, rows: (string | number | null)[][]): Promise<void> {
  await conn.query(
    'INSERT INTO multi_interface (port_id, subnet_id, macaddress, attached_node_name, address, cidr, mtu) VALUES ?',
    [rows],
  );
}

describe.skipIf(!available)('shipped SQL on a server that enforces privileges', () => {
  beforeAll(async () => {
    server = await startPrivateMariadb();
    admin = await server.admin();
    await admin.query(`CREATE DATABASE ${DATABASE}; USE ${DATABASE}`);
    await admin.query(shipped('schema.sql'));
    await admin.query(shipped('index.sql'));
    await admin.query(shipped('multi-subnet.sql'));
    await admin.query(shipped('fleet.sql'));
    await admin.query(`CREATE USER '${USER}'@'${HOST_PATTERN}' IDENTIFIED BY '${PASSWORD}'`);
    await admin.query(grantFor(DATABASE));
    await insertRows(admin, [
      ['port-1', 'subnet-a', 'fa:16:3e:00:00:01', 'worker-1', '192.168.10.5', '192.168.10.0/24', 1500],
      ['port-2', 'subnet-b', 'fa:16:3e:00:00:02', 'worker-1.novalocal', '10.20.0.5', null, 9000],
      ['port-3', 'subnet-a', 'fa:16:3e:00:00:03', 'worker-2', '192.168.10.6', '192.168.10.0/24', 1500],
    ]);
    await admin.query("INSERT INTO multi_subnet (subnet_id, cidr) VALUES ('subnet-b', '10.20.0.0/16')");
    settings = {
      host: server.host,
      port: server.port,
      user: USER,
      password: PASSWORD,
      database: DATABASE,
      connectTimeoutMs: 2_000,
      queryTimeoutMs: 5_000,
      filterDeleted: true,
    };
    agent = await createConnection({
      host: server.host,
      port: server.port,
      user: USER,
      password: PASSWORD,
      database: DATABASE,
    });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await agent?.end();
    await admin?.end();
    await server?.stop();
  }, 30_000);

  it('grants exactly SELECT on the two tables, UPDATE of netplan_success, and its own table, nothing more', async () => {
    const [rows] = await agent.query<RowDataPacket[]>('SHOW GRANTS');
    const grants = rows.map((row) => Object.values(row)[0] as string).sort();
    expect(grants).toEqual([
      `GRANT SELECT ON \`${DATABASE}\`.\`multi_subnet\` TO \`${USER}\`@\`${HOST_PATTERN}\``,
      `GRANT SELECT, INSERT, UPDATE ON \`${DATABASE}\`.\`multinic_agent_status\` TO \`${USER}\`@\`${HOST_PATTERN}\``,
      `GRANT SELECT, UPDATE (\`netplan_success\`) ON \`${DATABASE}\`.\`multi_interface\` TO \`${USER}\`@\`${HOST_PATTERN}\``,
      expect.stringMatching(
        new RegExp(
          `^GRANT USAGE ON \\*\\.\\* TO \`${USER}\`@\`127\\.0\\.0\\.%\` IDENTIFIED BY PASSWORD '\\*[0-9A-F]{40}'$`,
        ),
      ),
    ]);
  });

  it("the agent's store reads its node's rows, with the subnet fallback, as that user", async () => {
    const store = openStore();
    const rows = (await store.rowsForNode('worker-1')).rows;
    expect(rows.map((r) => [r.id, r.macaddress, r.cidr, r.mtu])).toEqual([
      [1, 'fa:16:3e:00:00:01', '192.168.10.0/24', 1500],
      [2, 'fa:16:3e:00:00:02', '10.20.0.0/16', 9000],
    ]);
  });

  it('the store writes netplan_success as that user', async () => {
    const store = openStore();
    await store.writeStatus([
      { id: 1, success: 1 },
      { id: 2, success: 1 },
    ]);
    await store.writeStatus([{ id: 2, success: 0 }]);
    const [rows] = await admin.query<RowDataPacket[]>(
      'SELECT id, netplan_success FROM multi_interface ORDER BY id',
    );
    expect(rows.map((r) => [r['id'] as number, r['netplan_success'] as number])).toEqual([
      [1, 1],
      [2, 0],
      [3, 0],
    ]);
    await expect(store.ping()).resolves.toBeUndefined();
  });

  it.each([
    [
      'UPDATE of another column',
      `UPDATE ${DATABASE}.multi_interface SET address = '10.9.9.9' WHERE id = 1`,
      'ER_COLUMNACCESS_DENIED_ERROR',
    ],
    [
      'UPDATE of the MTU',
      `UPDATE ${DATABASE}.multi_interface SET mtu = 1400 WHERE id = 1`,
      'ER_COLUMNACCESS_DENIED_ERROR',
    ],
    ['DELETE', `DELETE FROM ${DATABASE}.multi_interface WHERE id = 1`, 'ER_TABLEACCESS_DENIED_ERROR'],
    [
      'INSERT',
      `INSERT INTO ${DATABASE}.multi_interface (port_id, subnet_id, macaddress) VALUES ('p', 's', 'm')`,
      'ER_TABLEACCESS_DENIED_ERROR',
    ],
    [
      'UPDATE of the subnet table',
      `UPDATE ${DATABASE}.multi_subnet SET cidr = '10.0.0.0/8'`,
      'ER_TABLEACCESS_DENIED_ERROR',
    ],
    ['DROP TABLE', `DROP TABLE ${DATABASE}.multi_interface`, 'ER_TABLEACCESS_DENIED_ERROR'],
    ['CREATE TABLE', `CREATE TABLE ${DATABASE}.t (id INT)`, 'ER_TABLEACCESS_DENIED_ERROR'],
    ['reading the user table', 'SELECT user FROM mysql.user', 'ER_TABLEACCESS_DENIED_ERROR'],
  ])('denies %s', async (_label, sql, code) => {
    expect(await denied(sql)).toBe(code);
    const [rows] = await admin.query<RowDataPacket[]>(
      `SELECT address, mtu FROM ${DATABASE}.multi_interface WHERE id = 1`,
    );
    expect(rows[0]).toEqual({ address: '192.168.10.5', mtu: 1500 });
  });

  it("the agent's fleet table works as that user: slots under GET_LOCK, its status row; no DELETE", async () => {
    const fleet = createFleetStore(settings);
    const status = {
      node: 'worker-1',
      version: '0.1.0',
      backend: 'netplan',
      configured: 2,
      failed: 0,
      waiting: 0,
      refused: 0,
      lastError: null,
    };
    expect((await fleet.claim(status, { kind: 'percent', percent: 50 }, 60_000, 'mtu')).granted).toBe(true);
    await fleet.fail('worker-1', 'verification failed');
    await fleet.writeStatus(status);
    expect((await fleet.readFleet()).map((row) => [row.node, row.slot, row.slotCounts])).toEqual([
      ['worker-1', 'failed', true],
    ]);
    await fleet.release('worker-1');
    expect((await fleet.readFleet())[0]?.slot).toBeNull();
    expect(await denied(`DELETE FROM ${DATABASE}.multinic_agent_status`)).toBe('ER_TABLEACCESS_DENIED_ERROR');
    expect(await denied(`DROP TABLE ${DATABASE}.multinic_agent_status`)).toBe('ER_TABLEACCESS_DENIED_ERROR');
  });

  it('the query the agent sends uses the attached_node_name index (EXPLAIN)', async () => {
    // Enough nodes that a full scan would cost more than the index; ANALYZE so the optimizer knows.
    const many = Array.from({ length: 3000 }, (_, i) => [
      `p-${i}`,
      's',
      `fa:16:3e:01:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
      `node-${i % 300}.cluster.local`,
      null,
      null,
      1500,
    ]);
    await insertRows(admin, many);
    await admin.query('ANALYZE TABLE multi_interface');
    await admin.query('TRUNCATE TABLE mysql.general_log');
    const rows = (await openStore().rowsForNode('node-7')).rows;
    expect(rows).toHaveLength(10);

    const sent = await agentQueries();
    expect(sent).toHaveLength(1);
    const plan = await explain(sent[0]!);
    expect(plan).toMatchObject({ table: 'mi', key: INDEX, type: 'range' });
    expect(Number(plan['rows'])).toBeLessThan(100);

    // Without the index the same query scans the table: the check above can fail.
    await admin.query(`DROP INDEX ${INDEX} ON multi_interface`);
    const scan = await explain(sent[0]!);
    expect(scan['key']).not.toBe(INDEX);
    expect(['ALL', 'index']).toContain(scan['type']);
    await admin.query(shipped('index.sql'));
    expect((await explain(sent[0]!))['key']).toBe(INDEX);
  });

  it('without multi_subnet, grant.sql fails only on its last statement and the agent does without', async () => {
    const other = 'controller_without_subnets';
    await admin.query(`CREATE DATABASE ${other}; USE ${other}`);
    await admin.query(shipped('schema.sql'));
    await admin.query(shipped('index.sql'));
    await admin.query(shipped('fleet.sql'));
    const outcomes: string[] = [];
    for (const statement of statements(grantFor(other))) {
      outcomes.push(
        await admin.query(statement).then(
          () => 'ok',
          (err: { code?: string }) => err.code ?? 'error',
        ),
      );
    }
    expect(outcomes).toEqual(['ok', 'ok', 'ok', 'ER_NO_SUCH_TABLE']);
    await insertRows(admin, [['p', 's', 'fa:16:3e:00:00:09', 'worker-9', '10.1.0.5', '10.1.0.0/24', 1500]]);
    await admin.query(`USE ${DATABASE}`);
    const store = openStore(other);
    expect((await store.rowsForNode('worker-9')).rows.map((r) => r.cidr)).toEqual(['10.1.0.0/24']);
    await store.writeStatus([{ id: 1, success: 1 }]);
  });
});

/** The SELECTs on multi_interface the agent's user sent, as the server logged them. */
async function agentQueries(): Promise<string[]> {
  const [rows] = await admin.query<RowDataPacket[]>(
    "SELECT CONVERT(argument USING utf8mb4) AS sql_text FROM mysql.general_log WHERE command_type = 'Query'",
  );
  return rows
    .map((row) => row['sql_text'] as string)
    .filter((sql) => /^SELECT\b/.test(sql) && sql.includes('FROM multi_interface'));
}

async function explain(sql: string): Promise<Record<string, unknown>> {
  const [rows] = await agent.query<RowDataPacket[]>(`EXPLAIN ${sql}`);
  const main = rows.find((row) => row['table'] === 'mi');
  expect(main, JSON.stringify(rows)).toBeDefined();
  return { ...main };
}

// grant.sql's statements, comments dropped: one `admin.query` each, to see which one fails.
function statements(sql: string): string[] {
  return sql
    .split('\n')
    .filter((line) => !line.trim().startsWith('--'))
    .join('\n')
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
