// The cycle's side of fleet rollouts against a real MariaDB and a real host root (fake network): what a
// steady cycle costs in the fleet table, a change to a working NIC waiting behind another node's failed
// slot while a new NIC goes ahead, and `fleet release` letting it through.
import type { RowDataPacket } from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { fleetCommand } from '../../src/fleet-command.js';
import { insertPortRows, portNic, type Harness } from '../support/agent-harness.js';
import { useScratchDatabase } from '../support/scratch-database.js';
import { macOf } from '../support/fixtures.js';
import { parseProm, valueOf } from '../support/prom.js';

const scratch = useScratchDatabase('fleet_cycle');

function fleetStats(harness: Harness) {
  const rollout = harness.agent.deps.rollout;
  if (rollout === undefined) throw new Error('no fleet table wired');
  return rollout.fleet.stats;
}

async function slotMetric(harness: Harness): Promise<Record<string, number | undefined>> {
  const samples = parseProm(await harness.agent.metrics.registry.metrics()).samples;
  return Object.fromEntries(
    ['none', 'changing', 'failed', 'waiting'].map((state) => [
      state,
      valueOf(samples, 'multinic_rollout_slot', { state }),
    ]),
  );
}

describe('fleet table from the cycle', () => {
  it('a steady cycle costs the fleet table nothing; the status row is written when it changes', async () => {
    const ids = await insertPortRows(scratch.db, 2);
    const h = await scratch.start([portNic(0), portNic(1)], { FLEET_HEARTBEAT: '10s' });
    expect(await h.tick()).toBe(true);
    const [[row]] = await scratch.db.admin.query<RowDataPacket[]>('SELECT * FROM multinic_agent_status');
    expect(row).toMatchObject({
      node_name: 'worker-1',
      configured: 2,
      failed: 0,
      slot: null,
      backend: 'netplan',
    });
    const before = fleetStats(h);
    for (let i = 0; i < 5; i += 1) expect(await h.tick()).toBe(true);
    expect(fleetStats(h)).toEqual(before);
    // A row refused: the counts change, so the row is written once.
    await scratch.db.admin.query('UPDATE multi_interface SET mtu = 0 WHERE id = ?', [ids[1]]);
    expect(await h.tick()).toBe(true);
    expect(await h.tick()).toBe(true);
    expect(fleetStats(h).statements - before.statements).toBe(1);
  });

  it("a change to a working NIC waits behind another node's failed slot; a new NIC goes ahead; release lets it through", async () => {
    const [first] = await insertPortRows(scratch.db, 1);
    const h = await scratch.start([portNic(0), portNic(1)], { ROLLOUT_MAX_UNAVAILABLE: '1' });
    expect(await h.tick()).toBe(true);
    await scratch.db.insertRow({ attached_node_name: 'worker-2', macaddress: macOf(40) });
    await scratch.db.admin.query(
      "INSERT INTO multinic_agent_status (node_name, agent_version, backend, slot, slot_reason) VALUES ('worker-2', '0.1.0', 'netplan', 'failed', 'verification failed')",
    );
    await scratch.db.admin.query('UPDATE multi_interface SET mtu = 9000 WHERE id = ?', [first]);
    const added = await scratch.db.insertRow({
      macaddress: macOf(1),
      address: '10.0.1.10',
      cidr: '10.0.1.0/24',
    });
    const applies = h.net.count('netplan', 'apply');
    const report = await h.cycle();
    expect(report.plan.changes.map((c) => c.kind)).toEqual(['create']);
    expect(report.waitingForSlot.map((c) => c.kind)).toEqual(['update']);
    expect(h.net.count('netplan', 'apply')).toBe(applies + 1);
    expect(h.net.link(macOf(0)).mtu).toBe(1500);
    expect(h.net.link(macOf(1))).toMatchObject({ name: 'multinic1' });
    expect(report.rows.find((r) => r.id === first)).toMatchObject({
      state: 'waiting_for_rollout_slot',
      success: 0,
      reason: 'waiting for a rollout slot: 1 of 1 held by worker-2 (failed)',
    });
    expect(await scratch.db.readStatus(first ?? -1)).toBe(0);
    expect(await scratch.db.readStatus(added)).toBe(1);
    expect(await h.tick()).toBe(true);
    expect(h.agent.telemetry.health(), JSON.stringify(h.agent.telemetry.health())).toMatchObject({
      status: 'healthy',
      rollout_slot: 'waiting',
    });
    expect(await slotMetric(h)).toEqual({ none: 0, changing: 0, failed: 0, waiting: 1 });
    expect(h.logs.filter((line) => line.msg === 'waiting for a rollout slot')).toHaveLength(1);

    const out: string[] = [];
    const io = { out: (line: string) => out.push(line), err: (line: string) => out.push(line) };
    expect(await fleetCommand(['release', 'worker-2'], false, h.config, io)).toBe(0);
    expect(await h.tick()).toBe(true);
    expect(h.net.link(macOf(0)).mtu).toBe(9000);
    expect(await scratch.db.readStatus(first ?? -1)).toBe(1);
    expect(h.logs.map((line) => line.msg).filter((msg) => msg.startsWith('rollout slot'))).toEqual([
      'rollout slot taken',
      'rollout slot released',
    ]);
    expect(await slotMetric(h)).toEqual({ none: 1, changing: 0, failed: 0, waiting: 0 });
    expect(await fleetCommand(['list'], false, h.config, io)).toBe(2);
  });
});
