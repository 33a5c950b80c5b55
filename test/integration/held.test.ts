// Issue 12 against a real MariaDB and a real host root (the fake network stands in for the kernel): a row
// that turns bad holds its NIC across restarts, at the cost of a steady cycle; files of format 1 are
// carried forward by a header rewrite that applies nothing.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { initialState } from '../../src/agent/cycle.js';
import { OWNERSHIP_HEADER } from '../../src/core/ownership.js';
import {
  insertPortRows,
  netplanFile,
  netplanFiles,
  portNic,
  type Harness,
} from '../support/agent-harness.js';
import { useScratchDatabase } from '../support/scratch-database.js';
import { macOf } from '../support/fixtures.js';

const scratch = useScratchDatabase('held');

const FILES = ['90-multinic0.yaml', '91-multinic1.yaml', '92-multinic2.yaml'];

async function converged(): Promise<{ harness: Harness; ids: number[] }> {
  const ids = await insertPortRows(scratch.db, 3);
  const harness = await scratch.start([0, 1, 2].map(portNic));
  await harness.cycle();
  expect(await Promise.all(ids.map((id) => scratch.db.readStatus(id)))).toEqual([1, 1, 1]);
  return { harness, ids };
}

/** One daemon cycle, with what it cost. */
async function costOf(harness: Harness) {
  const before = {
    ...harness.agent.deps.store.stats,
    spawned: harness.net.spawned,
    writes: harness.agent.fs.writes,
  };
  expect(await harness.tick()).toBe(true);
  const after = harness.agent.deps.store.stats;
  return {
    selects: after.selects - before.selects,
    updates: after.updates - before.updates,
    spawned: harness.net.spawned - before.spawned,
    writes: harness.agent.fs.writes - before.writes,
  };
}

describe('a row that turns bad holds its NIC', () => {
  it('across cycles and restarts: no process, no write, the row 0, health held, one log line each way', async () => {
    const { harness, ids } = await converged();
    const content = FILES.map((name) => netplanFile(harness, name));
    await scratch.db.admin.query("UPDATE multi_interface SET macaddress = 'zz:zz:zz:zz:zz:zz' WHERE id = ?", [
      ids[1],
    ]);

    expect(await costOf(harness)).toEqual({ selects: 1, updates: 1, spawned: 0, writes: 0 });
    for (let restart = 0; restart < 3; restart += 1) {
      Object.assign(harness.state, initialState()); // what a restarted agent remembers: nothing
      for (let i = 0; i < 3; i += 1) {
        expect(await costOf(harness)).toEqual({ selects: 1, updates: 0, spawned: 0, writes: 0 });
        expect(harness.state.orphanCandidates).toEqual([]);
      }
    }
    expect(netplanFiles(harness)).toEqual(FILES);
    expect(FILES.map((name) => netplanFile(harness, name))).toEqual(content);
    expect(harness.net.link(macOf(1))).toMatchObject({
      name: 'multinic1',
      ipv4: [{ ip: '10.0.1.10', prefix: 24 }],
    });
    expect(await scratch.db.readStatus(ids[1] ?? -1)).toBe(0);
    const health = harness.agent.telemetry.health();
    expect(health.status).toBe('degraded');
    expect(health.held).toEqual([
      {
        name: 'multinic1',
        path: '/etc/netplan/91-multinic1.yaml',
        row_id: ids[1],
        mac: macOf(1),
        reason: expect.stringContaining('invalid MAC') as unknown,
      },
    ]);
    expect(health.interfaces.find((entry) => entry.id === ids[1])?.state).toBe('held');
    // Once when the hold started, and once more after each restart (a new process logs what it finds).
    expect(
      harness.logs.filter((line) => line.msg === 'interface held: its configuration is kept as it is'),
    ).toHaveLength(4);

    await scratch.db.admin.query('UPDATE multi_interface SET macaddress = ? WHERE id = ?', [
      macOf(1),
      ids[1],
    ]);
    expect(await costOf(harness)).toEqual({ selects: 1, updates: 1, spawned: 0, writes: 0 });
    expect(await scratch.db.readStatus(ids[1] ?? -1)).toBe(1);
    expect(harness.agent.telemetry.health().held).toEqual([]);
    expect(harness.logs.filter((line) => line.msg === 'interface no longer held')).toHaveLength(1);
  });
});

describe('files of format 1 (before row ids)', () => {
  it('get the row id in their header: validated, written, not applied, then steady', async () => {
    const { harness } = await converged();
    for (const name of FILES) {
      const path = join(harness.hostRoot, 'etc', 'netplan', name);
      const lines = netplanFile(harness, name).split('\n');
      expect(lines[1]).toMatch(/^# multinic-agent format=2 row=\d+$/);
      writeFileSync(path, [lines[0], ...lines.slice(2)].join('\n'), { mode: 0o600 });
    }
    const applies = harness.net.count('netplan', 'apply');
    const report = await harness.cycle();
    expect(report.plan.changes.map((change) => [change.kind, change.drifts])).toEqual(
      FILES.map(() => ['record', ['owner']]),
    );
    expect(report.failed).toBe(0);
    expect(harness.net.count('netplan', 'apply')).toBe(applies);
    for (const name of FILES) {
      expect(
        netplanFile(harness, name).startsWith(`${OWNERSHIP_HEADER}\n# multinic-agent format=2 row=`),
      ).toBe(true);
    }
    expect(await costOf(harness)).toEqual({ selects: 1, updates: 0, spawned: 0, writes: 0 });
  });
});
