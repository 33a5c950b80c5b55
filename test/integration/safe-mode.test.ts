import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  insertPortRows,
  netplanFile,
  portNic,
  startHarness,
  type Harness,
} from '../support/agent-harness.js';
import { macOf } from '../support/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../support/mariadb.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

let db: TestDatabase;
let h: Harness | undefined;
let proxy: TcpProxy | undefined;

beforeEach(async () => {
  db = await createTestDatabase('safe');
});
afterEach(async () => {
  await h?.close();
  h = undefined;
  await proxy?.close();
  proxy = undefined;
  await db.drop();
});

describe('APPLY_MODE=try (netplan try, confirmed only after verification)', () => {
  it('confirms a batch that verifies: one netplan try, no netplan apply', async () => {
    const ids = await insertPortRows(db, 3);
    h = await startHarness(db, [portNic(0), portNic(1), portNic(2)], { APPLY_MODE: 'try' });
    const report = await h.cycle();
    expect(report.failed).toBe(0);
    expect(h.net.count('netplan', 'try')).toBe(1);
    expect(h.net.count('netplan', 'apply')).toBe(0);
    expect(h.net.link(macOf(2))).toMatchObject({
      name: 'multinic2',
      ipv4: [{ ip: '10.0.2.10', prefix: 24 }],
    });
    expect(await Promise.all(ids.map((id) => db.readStatus(id)))).toEqual([1, 1, 1]);
  });

  it('lets a failing batch revert, restores the failed file, and confirms the rest in a second trial', async () => {
    const ids = await insertPortRows(db, 2);
    h = await startHarness(db, [portNic(0), portNic(1)], { APPLY_MODE: 'try' });
    await h.cycle();
    const working = netplanFile(h, '90-multinic0.yaml');
    h.net.link(macOf(0)).maxMtu = 1500;
    await db.admin.query('UPDATE multi_interface SET mtu = 9000 WHERE id = ?', [ids[0]]);
    await db.admin.query('UPDATE multi_interface SET address = ? WHERE id = ?', ['10.0.1.11', ids[1]]);
    const report = await h.cycle();
    expect(report.rows.map((r) => r.state)).toEqual(['failed', 'configured']);
    expect(report.rows[0]?.reason).toContain('expected 9000');
    expect(h.net.count('netplan', 'try')).toBe(3);
    expect(netplanFile(h, '90-multinic0.yaml')).toBe(working);
    expect(netplanFile(h, '91-multinic1.yaml')).toContain('10.0.1.11/24');
    expect(h.net.link(macOf(0))).toMatchObject({
      name: 'multinic0',
      mtu: 1500,
      ipv4: [{ ip: '10.0.0.10', prefix: 24 }],
    });
    expect(h.net.link(macOf(1)).ipv4).toEqual([{ ip: '10.0.1.11', prefix: 24 }]);
    expect(await Promise.all(ids.map((id) => db.readStatus(id)))).toEqual([0, 1]);
    expect(readdirSync(join(h.hostRoot, 'run', 'netplan'))).toEqual([]);
  });

  it('a trial that fails to start leaves the previous files and marks the rows 0', async () => {
    const ids = await insertPortRows(db, 1);
    h = await startHarness(db, [portNic(0)], { APPLY_MODE: 'try' });
    await h.cycle();
    const working = netplanFile(h, '90-multinic0.yaml');
    await db.admin.query('UPDATE multi_interface SET address = ? WHERE id = ?', ['10.0.0.20', ids[0]]);
    h.net.failApply = true;
    const report = await h.cycle();
    expect(report.rows[0]).toMatchObject({ state: 'failed', success: 0 });
    expect(report.rows[0]?.reason).toContain('netplan try ended before it was ready');
    expect(netplanFile(h, '90-multinic0.yaml')).toBe(working);
    expect(await db.readStatus(ids[0]!)).toBe(0);
  });
});

describe('verification includes the database', () => {
  it.each(['apply', 'try'])(
    'APPLY_MODE=%s: an apply that cuts the agent off from its database is rolled back',
    async (mode) => {
      proxy = await startTcpProxy(db.settings.host, db.settings.port);
      const ids = await insertPortRows(db, 1);
      h = await startHarness(db, [portNic(0)], {
        APPLY_MODE: mode,
        DB_PORT: String(proxy.port),
        DB_CONNECT_TIMEOUT: '1s',
      });
      await h.cycle();
      const working = netplanFile(h, '90-multinic0.yaml');
      await db.admin.query('UPDATE multi_interface SET address = ? WHERE id = ?', ['10.0.0.30', ids[0]]);
      h.net.onApply = () => proxy!.down();
      // The status write-back fails too (the database is gone): the cycle reports the outage.
      await expect(h.cycle()).rejects.toMatchObject({ kind: 'db_connection' });
      expect(netplanFile(h, '90-multinic0.yaml')).toBe(working);
      expect(h.net.link(macOf(0)).ipv4).toEqual([{ ip: '10.0.0.10', prefix: 24 }]);
      const rollback = h.logs.find((l) => l.msg === 'interface configuration failed, rolled back');
      expect(rollback).toMatchObject({ level: 'error', interface_id: ids[0], error_type: 'verify' });
      expect(String(rollback?.reason)).toContain('database unreachable after apply');
      h.net.onApply = null;
      await proxy.up();
      const next = await h.cycle();
      expect(next.rows[0]).toMatchObject({ state: 'configured' });
      expect(h.net.link(macOf(0)).ipv4).toEqual([{ ip: '10.0.0.30', prefix: 24 }]);
    },
  );
});
