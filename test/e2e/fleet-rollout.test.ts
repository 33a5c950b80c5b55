// Fleet-safe rollouts (issue 13) on four sandboxed nodes, each with real netplan + systemd-networkd and
// the real agent daemon, all sharing one real MariaDB: a mass change goes one node at a time, a change
// that fails everywhere stops after the budget, a killed slot holder frees its lease, an outage applies
// nothing without a slot, and new NICs are never held back.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it, vi } from 'vitest';
import { agentCli, agentEnv, type Daemon, type LogLine } from '../sandbox/agent.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import { describeSandbox } from '../sandbox/support.js';
import { calls, eventually, linesOf } from './agent-fixtures.js';
import { health, mac, row, useFleet, type FleetNode } from './fleet-fixtures.js';

const NODES = 4;
const TAKEN = 'rollout slot taken';
const RELEASED = 'rollout slot released';
const WAITING = 'waiting for a rollout slot';
const slow = { ...eventually, timeout: 60_000 };

/** NIC 9 of a node: a macvlan on a 1500-byte lower link, so the kernel refuses it any larger MTU. */
async function plugRefusingNic(node: FleetNode): Promise<void> {
  const { sb } = node;
  await sb.execOk(['ip', 'link', 'add', 'low9', 'type', 'veth', 'peer', 'name', 'p-low9']);
  await sb.execOk(['ip', 'link', 'set', 'p-low9', 'up']);
  await sb.execOk(['ip', 'link', 'set', 'low9', 'up']);
  await sb.execOk([
    'ip',
    'link',
    'add',
    'ens9',
    'link',
    'low9',
    'address',
    mac(node.index, 9),
    'type',
    'macvlan',
  ]);
}

/** [start, end] of each slot a daemon held, from its own log lines (an open one ends now). */
function slotIntervals(logs: readonly LogLine[]): [number, number][] {
  const intervals: [number, number][] = [];
  let start: number | null = null;
  for (const line of logs) {
    if (line.msg === TAKEN && start === null) start = Date.parse(line.time);
    if (line.msg === RELEASED && start !== null) {
      intervals.push([start, Date.parse(line.time)]);
      start = null;
    }
  }
  if (start !== null) intervals.push([start, Date.now()]);
  return intervals;
}

/** Agent calls of `netplan apply` in a node since the mark. */
async function appliesSince(sb: Sandbox, mark: number): Promise<number> {
  return (await calls(sb))
    .slice(mark)
    .filter((call) => call.command === 'netplan' && call.args === 'apply' && call.parent !== null).length;
}

async function linkMtu(node: FleetNode, nic: number): Promise<number | undefined> {
  return (await node.sb.links()).find((link) => link.mac === mac(node.index, nic))?.mtu;
}

describeSandbox('fleet rollouts: four sandboxed nodes sharing one MariaDB', () => {
  const startFleet = useFleet();

  async function converged(nics: number, settings: Record<string, string>, refusing = false) {
    const fleet = await startFleet({ nodes: NODES, nicsPerNode: nics });
    const { nodes, db } = fleet;
    if (refusing) await Promise.all(nodes.map(plugRefusingNic));
    const rows = nodes.flatMap((node) => [
      ...Array.from({ length: nics }, (_, k) => row(node, k)),
      ...(refusing ? [row(node, 9)] : []),
    ]);
    const ids = await db.insertRows(rows);
    const daemons: Daemon[] = [];
    for (const node of nodes) daemons.push(await fleet.startAgent(node, settings));
    await vi.waitFor(async () => expect(await db.statuses(ids)).toEqual(ids.map(() => 1)), slow);
    return { nodes, db, ids, daemons, fleet };
  }

  it('a. an MTU change on every node with ROLLOUT_MAX_UNAVAILABLE=1: one node at a time, all converge', async () => {
    const { nodes, db, ids, daemons } = await converged(1, { ROLLOUT_MAX_UNAVAILABLE: '1' });
    await db.query('UPDATE multi_interface SET mtu = 9000');
    await vi.waitFor(async () => {
      for (const node of nodes) expect(await linkMtu(node, 0)).toBe(9000);
    }, slow);
    await vi.waitFor(async () => expect(await db.statuses(ids)).toEqual(ids.map(() => 1)), slow);
    const intervals = daemons.flatMap((daemon) => slotIntervals(daemon.logs)).sort((x, y) => x[0] - y[0]);
    expect(intervals).toHaveLength(NODES);
    for (let i = 1; i < intervals.length; i += 1) {
      // The next node took its slot only after the previous one gave it back.
      expect(intervals[i]![0]).toBeGreaterThanOrEqual(intervals[i - 1]![1]);
    }
    expect(daemons.filter((daemon) => linesOf(daemon.logs, WAITING).length > 0).length).toBeGreaterThan(0);
  }, 120_000);

  it('b. a change that fails on every node: one node tries it and keeps its slot, the others never touch their host; fixed, all finish', async () => {
    const { nodes, db, ids, daemons } = await converged(
      0,
      { ROLLOUT_MAX_UNAVAILABLE: '1', VERIFY_TIMEOUT: '3s' },
      true,
    );
    const marks = await Promise.all(nodes.map(async (node) => (await calls(node.sb)).length));
    await db.query('UPDATE multi_interface SET mtu = 9000');
    await vi.waitFor(
      () =>
        expect(
          daemons.filter((d) => linesOf(d.logs, 'interface configuration failed, rolled back').length > 0),
        ).toHaveLength(1),
      slow,
    );
    const tried = daemons.findIndex(
      (d) => linesOf(d.logs, 'interface configuration failed, rolled back').length > 0,
    );
    // Several cycles later, still only that node has tried: the others wait and have applied nothing.
    await sleep(4_000);
    for (const [i, node] of nodes.entries()) {
      const failures = linesOf(daemons[i]!.logs, 'interface configuration failed, rolled back').length;
      if (i === tried) {
        expect(failures).toBeGreaterThan(0);
        continue;
      }
      expect(failures, node.name).toBe(0);
      expect(await appliesSince(node.sb, marks[i]!), node.name).toBe(0);
      expect(await linkMtu(node, 9)).toBe(1500);
      const body = JSON.parse((await health(node, '/')).body) as {
        interfaces: { state: string }[];
        rollout_slot: string;
      };
      expect(body.interfaces.map((entry) => entry.state)).toEqual(['waiting_for_rollout_slot']);
      expect(body.rollout_slot).toBe('waiting');
      expect(linesOf(daemons[i]!.logs, WAITING)).toHaveLength(1);
    }
    expect(await db.statuses(ids)).toEqual(ids.map(() => 0));

    // The operator's view, from the real table through the shipped CLI.
    const cli = await agentCli();
    const env = agentEnv(db.agentEnv, { NODE_NAME: nodes[0]!.name });
    const table = await nodes[0]!.sb.exec(['node', cli, 'fleet'], { env });
    expect(table.code, table.stderr).toBe(0);
    console.info(`multinic-agent fleet, after a change failed on one node (README sample):\n${table.stdout}`);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      /^NODE\s+STATE\s+CONFIGURED\s+FAILED\s+WAITING\s+REFUSED\s+SLOT\s+LAST CYCLE\s+VERSION\s+WHY$/,
    );
    for (const [i, node] of nodes.entries()) {
      const line = lines.find((text) => text.startsWith(`${node.name} `)) ?? '';
      if (i === tried)
        expect(line).toMatch(/failed \(holds a slot\)\s+0\s+1\s+0\s+0\s+failed .*verification failed/);
      else expect(line).toMatch(/waiting\s+0\s+0\s+1\s+0\s+-\s/);
    }
    const json = await nodes[0]!.sb.exec(['node', cli, 'fleet', '--json'], { env });
    const rows = JSON.parse(json.stdout) as { node: string; slot: string | null; slotCounts: boolean }[];
    expect(rows.map((r) => [r.node, r.slot, r.slotCounts])).toEqual(
      nodes.map((node, i) => [node.name, i === tried ? 'failed' : null, i === tried]),
    );

    // Fixed (an MTU the NIC takes): the failed node goes first, then the others in turn; every row 1.
    await db.query('UPDATE multi_interface SET mtu = 1400');
    await vi.waitFor(async () => {
      for (const node of nodes) expect(await linkMtu(node, 9)).toBe(1400);
    }, slow);
    await vi.waitFor(async () => expect(await db.statuses(ids)).toEqual(ids.map(() => 1)), slow);
    const after = await nodes[0]!.sb.exec(['node', cli, 'fleet', '--json'], { env });
    expect((JSON.parse(after.stdout) as { slot: string | null }[]).map((r) => r.slot)).toEqual(
      nodes.map(() => null),
    );
  }, 150_000);

  it('c. kill -9 of the slot holder mid-apply: its lease frees the slot, another node goes on; the killed node recovers by its journal', async () => {
    const settings = { ROLLOUT_MAX_UNAVAILABLE: '1', ROLLOUT_LEASE: '5s' };
    const { nodes, db, ids, daemons, fleet: running } = await converged(1, settings);
    await db.query('UPDATE multi_interface SET mtu = 9000');
    // Wait for a node to be inside its transaction (its journal written), then kill it there.
    let victim = -1;
    await vi.waitFor(
      () => {
        victim = nodes.findIndex((node) =>
          existsSync(join(node.sb.hostRoot, 'var/lib/multinic/transaction.json')),
        );
        expect(victim).toBeGreaterThanOrEqual(0);
      },
      { timeout: 30_000, interval: 10 },
    );
    await daemons[victim]!.process.signal('SIGKILL');
    const killedAt = Date.now();
    const next = await Promise.race(
      daemons.map(async (daemon, i) => {
        if (i === victim) return new Promise<never>(() => undefined);
        await daemon.waitForLog(
          (line) => line.msg === TAKEN && Date.parse(line.time) >= killedAt - 1_000,
          30_000,
        );
        return Date.now();
      }),
    );
    // Bound: the lease (5 s) plus a poll interval (1 s ± 10%) plus the cycle itself.
    expect(next - killedAt).toBeLessThan(5_000 + 1_100 + 2_000);
    const restarted = await running.startAgent(nodes[victim]!, settings);
    await vi.waitFor(async () => {
      for (const node of nodes) expect(await linkMtu(node, 0)).toBe(9000);
    }, slow);
    await vi.waitFor(async () => expect(await db.statuses(ids)).toEqual(ids.map(() => 1)), slow);
    expect(existsSync(join(nodes[victim]!.sb.hostRoot, 'var/lib/multinic/transaction.json'))).toBe(false);
    expect(linesOf(restarted.logs, 'agent started')).toHaveLength(1);
  }, 150_000);

  it('d. a database outage during a rollout: nothing applied without a slot, nothing deleted, it resumes after', async () => {
    const settings = { ROLLOUT_MAX_UNAVAILABLE: '1', MAX_BACKOFF: '2s' };
    const { nodes, db, ids, daemons } = await converged(2, settings);
    await db.query('UPDATE multi_interface SET mtu = 9000');
    await vi.waitFor(() => expect(daemons.some((d) => linesOf(d.logs, TAKEN).length > 0)).toBe(true), slow);
    await db.stopServer();
    const stoppedAt = Date.now();
    const marks = await Promise.all(nodes.map(async (node) => (await calls(node.sb)).length));
    await sleep(3_000);
    // During the outage only a node that held the slot when it began may finish its apply; no other
    // node applied anything, and every NIC is still configured (nothing removed).
    const holders = daemons.map((d) =>
      slotIntervals(d.logs).some(([start, end]) => start <= stoppedAt && end >= stoppedAt - 200),
    );
    expect(holders.filter(Boolean).length).toBeLessThanOrEqual(1);
    for (const [i, node] of nodes.entries()) {
      if (!holders[i]) expect(await appliesSince(node.sb, marks[i]!), node.name).toBe(0);
      const links = await node.sb.links();
      for (const k of [0, 1]) expect(links.find((l) => l.mac === mac(node.index, k))?.ipv4).toHaveLength(1);
    }
    await db.startServer();
    await vi.waitFor(async () => {
      for (const node of nodes) for (const k of [0, 1]) expect(await linkMtu(node, k)).toBe(9000);
    }, slow);
    await vi.waitFor(async () => expect(await db.statuses(ids)).toEqual(ids.map(() => 1)), slow);
    const intervals = daemons.flatMap((daemon) => slotIntervals(daemon.logs)).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < intervals.length; i += 1)
      expect(intervals[i]![0]).toBeGreaterThanOrEqual(intervals[i - 1]![1]);
  }, 150_000);

  it('e. new NICs on every node at once are not held back by the budget', async () => {
    const { nodes, db, daemons } = await converged(1, { ROLLOUT_MAX_UNAVAILABLE: '1' });
    await Promise.all(
      nodes.map((node) =>
        node.sb.execOk([
          '/bin/bash',
          '-c',
          `ip link add ens8 address ${mac(node.index, 5)} type veth peer name p-ens8 && ip link set p-ens8 up`,
        ]),
      ),
    );
    const added = await db.insertRows(nodes.map((node) => row(node, 5)));
    await vi.waitFor(async () => expect(await db.statuses(added)).toEqual(added.map(() => 1)), eventually);
    for (const daemon of daemons) {
      expect(linesOf(daemon.logs, WAITING)).toEqual([]);
      expect(linesOf(daemon.logs, TAKEN)).toEqual([]);
    }
  }, 120_000);
});
