// The agents' own table on a real MariaDB (sql/fleet.sql): slots claimed under GET_LOCK never exceed the
// budget, leases free themselves, failed slots count only for nodes that still have rows, and rows
// written by hand with garbage wedge nothing.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFleetStore, type FleetStore, type NodeStatus } from '../../src/store/fleet.js';
import { createTestDatabase, type TestDatabase } from '../support/mariadb.js';

let db: TestDatabase;
let fleet: FleetStore;

beforeEach(async () => {
  db = await createTestDatabase('fleet');
  fleet = createFleetStore(db.settings);
});
afterEach(async () => {
  await db.drop();
});

function status(node: string): NodeStatus {
  return {
    node,
    version: '0.1.0',
    backend: 'netplan',
    configured: 1,
    failed: 0,
    waiting: 0,
    refused: 0,
    lastError: null,
  };
}

async function withRows(...nodes: string[]): Promise<void> {
  for (const node of nodes) await db.insertRow({ attached_node_name: node });
}

const MINUTE = 60_000;

describe('rollout slots', () => {
  it('eight nodes claiming at once with a budget of three: exactly three granted', async () => {
    const nodes = Array.from({ length: 8 }, (_, n) => `node-${n}`);
    await withRows(...nodes);
    const claims = await Promise.all(
      nodes.map((node) => fleet.claim(status(node), { kind: 'count', nodes: 3 }, MINUTE, 'mtu')),
    );
    expect(claims.filter((c) => c.granted)).toHaveLength(3);
    const denied = claims.find((c) => !c.granted);
    expect(denied?.holders).toHaveLength(3);
    expect(denied?.slots).toBe(3);
    expect((await fleet.readFleet()).filter((row) => row.slot === 'changing' && row.slotCounts)).toHaveLength(
      3,
    );
  });

  it('a node renews its own slot; once released, another node gets it', async () => {
    await withRows('a', 'b');
    expect((await fleet.claim(status('a'), { kind: 'count', nodes: 1 }, MINUTE, 'x')).granted).toBe(true);
    expect((await fleet.claim(status('a'), { kind: 'count', nodes: 1 }, MINUTE, 'x')).granted).toBe(true);
    expect((await fleet.claim(status('b'), { kind: 'count', nodes: 1 }, MINUTE, 'x')).granted).toBe(false);
    await fleet.release('a');
    expect((await fleet.claim(status('b'), { kind: 'count', nodes: 1 }, MINUTE, 'x')).granted).toBe(true);
  });

  it('a lease that ran out frees the slot by itself (an agent killed mid-change)', async () => {
    await withRows('a', 'b');
    await fleet.claim(status('a'), { kind: 'count', nodes: 1 }, MINUTE, 'x');
    await db.admin.query(
      "UPDATE multinic_agent_status SET slot_expires_at = NOW(3) - INTERVAL 1 SECOND WHERE node_name = 'a'",
    );
    expect((await fleet.claim(status('b'), { kind: 'count', nodes: 1 }, MINUTE, 'x')).granted).toBe(true);
  });

  it('a failed slot counts until released, with no expiry', async () => {
    await withRows('a', 'b');
    await fleet.claim(status('a'), { kind: 'count', nodes: 1 }, MINUTE, 'x');
    await fleet.fail('a', 'verification failed: mtu 1500, want 9000');
    await db.admin.query(
      "UPDATE multinic_agent_status SET slot_since = NOW(3) - INTERVAL 30 DAY WHERE node_name = 'a'",
    );
    const denied = await fleet.claim(status('b'), { kind: 'count', nodes: 1 }, MINUTE, 'x');
    expect(denied).toMatchObject({ granted: false, holders: [{ node: 'a', slot: 'failed' }] });
    const [a] = await fleet.readFleet();
    expect(a).toMatchObject({
      slot: 'failed',
      slotReason: 'verification failed: mtu 1500, want 9000',
      slotExpiresAt: null,
    });
    await fleet.release('a');
    expect((await fleet.claim(status('b'), { kind: 'count', nodes: 1 }, MINUTE, 'x')).granted).toBe(true);
  });

  it('a node retrying its failed change keeps its slot failed (no lease to run out)', async () => {
    await withRows('a');
    await fleet.claim(status('a'), { kind: 'count', nodes: 1 }, MINUTE, 'x');
    await fleet.fail('a', 'verification failed');
    expect((await fleet.claim(status('a'), { kind: 'count', nodes: 1 }, MINUTE, 'retry')).granted).toBe(true);
    const [a] = await fleet.readFleet();
    expect(a).toMatchObject({
      slot: 'failed',
      slotReason: 'verification failed',
      slotExpiresAt: null,
      slotCounts: true,
    });
  });

  it('a percentage is of the nodes that have rows, at least one', async () => {
    await withRows(...Array.from({ length: 10 }, (_, n) => `node-${n}`));
    const claims = await Promise.all(
      Array.from({ length: 10 }, (_, n) =>
        fleet.claim(status(`node-${n}`), { kind: 'percent', percent: 20 }, MINUTE, 'x'),
      ),
    );
    expect(claims.filter((c) => c.granted)).toHaveLength(2);
    expect(claims[0]?.slots).toBe(2);
  });

  it('rows written by hand with garbage wedge nothing: unknown node, far-future lease, unknown slot, negative counts', async () => {
    await withRows('real');
    await db.admin.query(
      'INSERT INTO multinic_agent_status (node_name, agent_version, backend, configured, failed, slot, slot_expires_at) VALUES' +
        " ('ghost', 'x', 'netplan', -5, -1, 'failed', NULL)," +
        " ('future', 'x', 'netplan', 0, 0, 'changing', NOW(3) + INTERVAL 10 YEAR)," +
        " ('weird', 'x', 'netplan', 0, 0, 'banana', NOW(3) + INTERVAL 1 MINUTE)",
    );
    expect((await fleet.claim(status('real'), { kind: 'count', nodes: 1 }, MINUTE, 'x')).granted).toBe(true);
    const rows = await fleet.readFleet();
    expect(rows.map((row) => [row.node, row.slot, row.slotCounts])).toEqual([
      ['future', 'changing', false],
      ['ghost', 'failed', false],
      ['real', 'changing', true],
      ['weird', 'banana', false],
    ]);
    expect(rows.find((row) => row.node === 'ghost')?.configured).toBe(-5);
  });

  it('costs: a claim is GET_LOCK, one SELECT, one write, RELEASE_LOCK on one connection; a status write one statement', async () => {
    await withRows('a');
    const before = fleet.stats;
    await fleet.claim(status('a'), { kind: 'count', nodes: 1 }, MINUTE, 'x');
    expect([fleet.stats.statements - before.statements, fleet.stats.connects - before.connects]).toEqual([
      4, 1,
    ]);
    await fleet.writeStatus(status('a'));
    expect(fleet.stats.statements - before.statements).toBe(5);
    const [row] = await fleet.readFleet();
    expect(row).toMatchObject({ node: 'a', configured: 1, backend: 'netplan', slot: 'changing' });
    expect(row?.lastCycleAt).not.toBeNull();
  });
});
