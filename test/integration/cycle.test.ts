import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runOnce, showPlan } from '../../src/commands.js';
import {
  insertPortRows,
  netplanFile,
  netplanFiles,
  portNic,
  portRow,
  startHarness,
  type Harness,
} from '../support/agent-harness.js';
import { macOf } from '../support/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../support/mariadb.js';

let db: TestDatabase;
let h: Harness | undefined;

beforeEach(async () => {
  db = await createTestDatabase('cycle');
});
afterEach(async () => {
  await h?.close();
  h = undefined;
  await db.drop();
});

/** The n-th OpenStack port: a veth-like NIC not yet renamed, and its row. */
async function statuses(ids: readonly number[]): Promise<(number | null | undefined)[]> {
  return Promise.all(ids.map((id) => db.readStatus(id)));
}
/** Counters of one cycle: statements, connections opened, processes, file writes. */
async function measured(harness: Harness) {
  const { selects, updates, connects } = harness.agent.deps.store.stats;
  const spawned = harness.net.spawned;
  const writes = harness.agent.fs.writes;
  const report = await harness.cycle();
  const after = harness.agent.deps.store.stats;
  return {
    report,
    selects: after.selects - selects,
    updates: after.updates - updates,
    connects: after.connects - connects,
    spawned: harness.net.spawned - spawned,
    writes: harness.agent.fs.writes - writes,
  };
}

describe('cycle: 10 new NICs, then steady state', () => {
  it('configures all ten with one apply, then does nothing: 1 connection, 1 SELECT, 0 UPDATE, 0 processes, 0 writes', async () => {
    const ids = await insertPortRows(db, 10);
    h = await startHarness(
      db,
      Array.from({ length: 10 }, (_, n) => portNic(n)),
    );
    const first = await measured(h);
    expect(first.report.failed).toBe(0);
    expect(h.net.count('netplan', 'apply')).toBe(1);
    expect(h.net.count('netplan', 'generate')).toBe(1);
    expect(netplanFiles(h)).toEqual(Array.from({ length: 10 }, (_, n) => `9${n}-multinic${n}.yaml`));
    for (let n = 0; n < 10; n += 1) {
      expect(h.net.link(macOf(n))).toMatchObject({
        name: `multinic${n}`,
        mtu: 1500,
        ipv4: [{ ip: `10.0.${n}.10`, prefix: 24 }],
      });
      expect(statSync(join(h.hostRoot, 'etc', 'netplan', `9${n}-multinic${n}.yaml`)).mode & 0o777).toBe(
        0o600,
      );
    }
    expect(await statuses(ids)).toEqual(Array(10).fill(1));
    expect(first.updates).toBe(1);

    for (let i = 0; i < 3; i += 1) {
      const steady = await measured(h);
      expect(steady.report.plan.changes).toEqual([]);
      expect([steady.selects, steady.updates, steady.spawned, steady.writes]).toEqual([1, 0, 0, 0]);
      // One connection for the cycle, closed at its end (DB_KEEP_CONNECTION=false, the default).
      expect(steady.connects).toBe(1);
    }
    expect(h.logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('applies K changed NICs with exactly one netplan apply and one validation run', async () => {
    const ids = await insertPortRows(db, 10);
    h = await startHarness(
      db,
      Array.from({ length: 10 }, (_, n) => portNic(n)),
    );
    await h.cycle();
    await db.admin.query('UPDATE multi_interface SET address = ? WHERE id = ?', ['10.0.1.11', ids[1]]);
    await db.admin.query('UPDATE multi_interface SET mtu = 9000 WHERE id = ?', [ids[4]]);
    await db.admin.query('UPDATE multi_interface SET cidr = ?, address = ? WHERE id = ?', [
      '10.0.0.0/16',
      '10.0.7.10',
      ids[7],
    ]);
    const before = { apply: h.net.count('netplan', 'apply'), generate: h.net.count('netplan', 'generate') };
    const { report, writes } = await measured(h);
    expect(
      report.results.map((r) => [
        r.change.kind,
        r.change.kind === 'remove' ? '' : r.change.nic.name,
        r.failure,
      ]),
    ).toEqual([
      ['update', 'multinic1', null],
      ['update', 'multinic4', null],
      ['update', 'multinic7', null],
    ]);
    expect(h.net.count('netplan', 'apply') - before.apply).toBe(1);
    expect(h.net.count('netplan', 'generate') - before.generate).toBe(1);
    // networkd keeps the old address: the agent deletes it, so the NIC carries exactly the desired one.
    expect(h.net.link(macOf(1)).ipv4).toEqual([{ ip: '10.0.1.11', prefix: 24 }]);
    expect(h.net.link(macOf(4)).mtu).toBe(9000);
    expect(h.net.link(macOf(7)).ipv4).toEqual([{ ip: '10.0.7.10', prefix: 16 }]);
    expect(netplanFile(h, '97-multinic7.yaml')).toContain('addresses: ["10.0.7.10/16"]');
    expect(writes).toBeGreaterThanOrEqual(3);
    expect(await statuses(ids)).toEqual(Array(10).fill(1));
  });
});

/**
 * Two NICs configured, then row 1 asks for MTU 9000, which NIC 0's driver refuses (max 1500). Returns the
 * row ids and row 1's working file.
 */
async function refusedMtu() {
  const ids = await insertPortRows(db, 2);
  const harness = await startHarness(db, [portNic(0), portNic(1)]);
  h = harness;
  await harness.cycle();
  const working = netplanFile(harness, '90-multinic0.yaml');
  harness.net.link(macOf(0)).maxMtu = 1500;
  await db.admin.query('UPDATE multi_interface SET mtu = 9000 WHERE id = ?', [ids[0]]);
  return { ids, working, h: harness };
}

describe('cycle: failures roll back', () => {
  it('restores the old working file when netplan apply fails, and marks the rows 0 with the reason', async () => {
    const ids = await insertPortRows(db, 2);
    h = await startHarness(db, [portNic(0), portNic(1)]);
    await h.cycle();
    const working = netplanFile(h, '90-multinic0.yaml');
    await db.admin.query('UPDATE multi_interface SET address = ? WHERE id = ?', ['10.0.0.20', ids[0]]);
    h.net.failApply = true;
    const report = await h.cycle();
    expect(report.failed).toBe(1);
    expect(netplanFile(h, '90-multinic0.yaml')).toBe(working);
    expect(await statuses(ids)).toEqual([0, 1]);
    const error = h.logs.find((l) => l.msg === 'interface configuration failed, rolled back');
    expect(error).toMatchObject({
      level: 'error',
      interface_id: ids[0],
      interface_name: 'multinic0',
      error_type: 'command_failed',
    });
    expect(String(error?.reason)).toContain('boom');
  });

  it('rolls back only the NIC whose MTU the driver refuses; the other change holds', async () => {
    const { ids, working, h } = await refusedMtu();
    await db.admin.query('UPDATE multi_interface SET address = ? WHERE id = ?', ['10.0.1.12', ids[1]]);
    const report = await h.cycle();
    expect(report.rows.map((r) => [r.id, r.state])).toEqual([
      [ids[0], 'failed'],
      [ids[1], 'configured'],
    ]);
    expect(report.rows[0]?.reason).toMatch(/multinic0 has MTU 1500, expected 9000/);
    expect(netplanFile(h, '90-multinic0.yaml')).toBe(working);
    expect(netplanFile(h, '91-multinic1.yaml')).toContain('10.0.1.12/24');
    expect(h.net.link(macOf(1)).ipv4).toEqual([{ ip: '10.0.1.12', prefix: 24 }]);
    expect(await statuses(ids)).toEqual([0, 1]);
  });

  it('deletes a newly created file when its NIC never converges (nothing half-done is kept)', async () => {
    const [id] = await insertPortRows(db, 1);
    h = await startHarness(db, [portNic(0)]);
    h.net.frozen = true;
    const report = await h.cycle();
    expect(report.rows[0]).toMatchObject({ id, state: 'failed', success: 0 });
    expect(netplanFiles(h)).toEqual([]);
    expect(await db.readStatus(id!)).toBe(0);
  });
});

describe('cycle: a failed change backs off on its own', () => {
  /** Cycles in which row `id`'s change was tried (its failure logged), by their retry_in_cycles. */
  function retries(harness: Harness, id: number): unknown[] {
    return harness.logs
      .filter((l) => l.msg === 'interface configuration failed, rolled back' && l.interface_id === id)
      .map((l) => l.retry_in_cycles);
  }

  it('waits 0, 1, 3 … cycles between tries of the same change, touching nothing meanwhile; other rows go on', async () => {
    const { ids, working, h } = await refusedMtu();

    const tried: boolean[] = [];
    for (let n = 0; n < 8; n++) {
      const cycle = await measured(h);
      tried.push(cycle.spawned > 0);
      if (cycle.spawned === 0) {
        // Held: no process, no file write, no status write; the row reads failed, with why and when.
        expect([cycle.writes, cycle.updates]).toEqual([0, 0]);
        expect(cycle.report.rows[0]).toMatchObject({ id: ids[0], state: 'failed', success: 0 });
        expect(cycle.report.rows[0]?.reason).toMatch(
          /MTU 1500, expected 9000 \(failed [23]×; not tried again for [13] cycle\(s\) unless the row changes\)$/,
        );
      }
    }
    // Tries in cycles 0, 1, 3 and 7: it waits 0, 1 and 3 cycles after the 1st, 2nd and 3rd failure.
    expect(tried).toEqual([true, true, false, true, false, false, false, true]);
    expect(retries(h, ids[0]!)).toEqual([0, 1, 3, 7]);
    expect(netplanFile(h, '90-multinic0.yaml')).toBe(working);

    // A new NIC while row 1 waits: configured in the next cycle, in an apply without row 1's change.
    await db.insertRow(portRow(2));
    h.net.links.push({ ...portNic(2), maxMtu: 9000 });
    const next = await h.cycle();
    expect(next.results.map((r) => (r.change.kind === 'remove' ? '' : r.change.nic.name))).toEqual([
      'multinic2',
    ]);
    expect(next.deferred.has(ids[0]!)).toBe(true);
    expect(h.net.link(macOf(2))).toMatchObject({
      name: 'multinic2',
      ipv4: [{ ip: '10.0.2.10', prefix: 24 }],
    });

    // The operator changes the row: tried at once, and it holds.
    await db.admin.query('UPDATE multi_interface SET mtu = 1450 WHERE id = ?', [ids[0]]);
    const fixed = await h.cycle();
    expect(fixed.rows[0]).toMatchObject({ id: ids[0], state: 'configured' });
    expect(h.net.link(macOf(0)).mtu).toBe(1450);
    expect(h.state.failedChanges.size).toBe(0);
    expect(await statuses(ids)).toEqual([1, 1]);
  });

  it('waits at most FAILED_RETRY_MAX, counted in poll intervals', async () => {
    const [id] = await insertPortRows(db, 1);
    h = await startHarness(db, [portNic(0)], { POLL_INTERVAL: '30s', FAILED_RETRY_MAX: '90s' });
    h.net.failApply = true;
    for (let n = 0; n < 12; n++) await h.cycle();
    // 3 cycles at most: tries in cycles 0, 1, 3, 7 and 11.
    expect(retries(h, id!)).toEqual([0, 1, 3, 3, 3]);
  });
});

describe('cycle: orphans and database errors', () => {
  it("removes a deleted row's file on the second sight and flushes the live addresses", async () => {
    const ids = await insertPortRows(db, 2);
    h = await startHarness(db, [portNic(0), portNic(1)]);
    await h.cycle();
    await db.admin.query('UPDATE multi_interface SET deleted_at = NOW() WHERE id = ?', [ids[1]]);
    const first = await h.cycle();
    expect(first.plan.orphanCandidates).toEqual(['multinic1']);
    expect(netplanFiles(h)).toEqual(['90-multinic0.yaml', '91-multinic1.yaml']);
    const second = await h.cycle();
    expect(second.results.map((r) => r.change.kind)).toEqual(['remove']);
    expect(netplanFiles(h)).toEqual(['90-multinic0.yaml']);
    expect(h.net.link(macOf(1)).ipv4).toEqual([]);
    expect(h.net.link(macOf(0)).ipv4).toEqual([{ ip: '10.0.0.10', prefix: 24 }]);
    const backups = readdirSync(join(h.hostRoot, 'var', 'lib', 'multinic', 'backups'));
    expect(backups).toHaveLength(1);
  });

  it('deletes nothing while the database cannot be read', async () => {
    await insertPortRows(db, 2);
    h = await startHarness(db, [portNic(0), portNic(1)]);
    await h.cycle();
    await db.admin.query('RENAME TABLE multi_interface TO multi_interface_gone');
    for (let i = 0; i < 3; i += 1) await expect(h.cycle()).rejects.toMatchObject({ retryable: true });
    expect(netplanFiles(h)).toEqual(['90-multinic0.yaml', '91-multinic1.yaml']);
    expect(h.net.link(macOf(1)).ipv4).toHaveLength(1);
    await db.admin.query('RENAME TABLE multi_interface_gone TO multi_interface');
    const back = await h.cycle();
    expect(back.plan.changes).toEqual([]);
  });
});

describe('cycle: NICs that are not there or not ours', () => {
  it('waits for a NIC that is not plugged yet, then configures it as soon as it appears', async () => {
    const [id] = await insertPortRows(db, 1);
    h = await startHarness(db, []);
    const report = await h.cycle();
    expect(report.rows[0]).toMatchObject({ state: 'waiting', success: 0 });
    expect(netplanFiles(h)).toEqual([]);
    expect(h.logs.filter((l) => l.msg === 'interface row not configured')).toHaveLength(1);
    await h.cycle();
    expect(h.logs.filter((l) => l.msg === 'interface row not configured')).toHaveLength(1);
    h.net.links.push({ ...portNic(0), maxMtu: 9000 });
    const later = await h.cycle();
    expect(later.rows[0]).toMatchObject({ state: 'configured', success: 1 });
    expect(await db.readStatus(id!)).toBe(1);
  });

  it('refuses the NIC holding the default route and never touches it', async () => {
    const id = await db.insertRow(portRow(0, { macaddress: 'FA-16-3E-FF-FF-00' }));
    h = await startHarness(db, []);
    const report = await h.cycle();
    expect(report.rows[0]).toMatchObject({ state: 'protected', success: 0 });
    expect(h.net.spawned).toBe(0);
    expect(h.net.link('fa:16:3e:ff:ff:00')).toMatchObject({
      name: 'eth0',
      ipv4: [{ ip: '192.168.0.5', prefix: 24 }],
    });
    expect(await db.readStatus(id)).toBe(0);
  });
});

describe('plan command', () => {
  it('exits 2 while changes are pending and 0 once in sync, changing nothing itself', async () => {
    await insertPortRows(db, 1);
    h = await startHarness(db, [portNic(0)]);
    const lines: string[] = [];
    expect(await showPlan(h.agent, (line) => lines.push(line))).toBe(2);
    expect(lines[0]).toMatch(/^create +multinic0 +row \d+ +fa:16:3e:00:00:00 +10\.0\.0\.10\/24 +mtu 1500/);
    expect(netplanFiles(h)).toEqual([]);
    expect(h.net.spawned).toBe(0);
    await h.cycle();
    expect(await showPlan(h.agent, () => undefined)).toBe(0);
  });
});

describe('crash recovery', () => {
  it('undoes a transaction a crash cut short, and ignores journal entries that are not its own files', async () => {
    const [id] = await insertPortRows(db, 1);
    h = await startHarness(db, [portNic(0)]);
    await h.cycle();
    const working = netplanFile(h, '90-multinic0.yaml');
    // What a kill -9 between write and verification leaves: an unverified file and the journal.
    const unverified = working.replace('mtu: 1500', 'mtu: 9000');
    writeFileSync(join(h.hostRoot, 'etc', 'netplan', '90-multinic0.yaml'), unverified);
    writeFileSync(join(h.hostRoot, 'etc', 'passwd'), 'root:x:0:0\n');
    const journal = {
      version: 1,
      entries: [
        { path: '/etc/netplan/90-multinic0.yaml', before: working },
        { path: '/etc/passwd', before: null },
      ],
    };
    writeFileSync(join(h.hostRoot, 'var', 'lib', 'multinic', 'transaction.json'), JSON.stringify(journal));
    expect(await runOnce(h.agent, h.logger)).toBe(0);
    expect(h.logs.find((l) => l.msg.startsWith('restored the files of a transaction'))).toMatchObject({
      level: 'warn',
      files: ['/etc/netplan/90-multinic0.yaml'],
    });
    expect(netplanFile(h, '90-multinic0.yaml')).toBe(working);
    expect(readFileSync(join(h.hostRoot, 'etc', 'passwd'), 'utf8')).toBe('root:x:0:0\n');
    expect(existsSync(join(h.hostRoot, 'var', 'lib', 'multinic', 'transaction.json'))).toBe(false);
    expect(await db.readStatus(id!)).toBe(1);
  });

  it('leaves no journal behind after a transaction, failed or not', async () => {
    const journal = () => existsSync(join(h!.hostRoot, 'var', 'lib', 'multinic', 'transaction.json'));
    const ids = await insertPortRows(db, 2);
    h = await startHarness(db, [portNic(0), portNic(1)]);
    expect((await h.cycle()).failed).toBe(0);
    expect(journal()).toBe(false);
    await db.admin.query('UPDATE multi_interface SET mtu = 9000 WHERE id = ?', [ids[1]]);
    h.net.frozen = true;
    expect((await h.cycle()).failed).toBe(1);
    expect(journal()).toBe(false);
  });
});
