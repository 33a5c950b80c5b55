// The fleet harness (fleet-fixtures.ts): several sandboxed nodes, each with the real netplan,
// systemd-networkd and agent daemon, sharing one real MariaDB. Proved here: every agent configures exactly
// its own node's NICs from the shared table, stop() leaves no process or directory behind, and a stop and
// start of the shared server is an outage every agent reports and recovers from.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it, vi } from 'vitest';
import { type Daemon } from '../sandbox/agent.js';
import { parseIpAddr } from '../sandbox/links.js';
import { describeSandbox } from '../sandbox/support.js';
import { pidsInNamespaceOf, processesMentioning } from '../support/processes.js';
import { eventually, linesOf, netplanFiles } from './agent-fixtures.js';
import { health, mac, row, useFleet, type Fleet, type FleetNode } from './fleet-fixtures.js';

const CYCLE_FAILED = 'cycle failed; host left as it is';

/** One row per NIC of every node, inserted in one statement; the ids of each node's rows. */
async function insertEveryNic(
  fleet: Fleet,
): Promise<{ ids: number[]; idsOf: (node: FleetNode) => number[] }> {
  const rows = fleet.nodes.flatMap((node) => node.nics.map((_, k) => row(node, k)));
  const ids = await fleet.db.insertRows(rows);
  const idsOf = (node: FleetNode) => ids.filter((_, j) => rows[j]?.attached_node_name === node.name);
  return { ids, idsOf };
}

/** /readyz of every node's agent, in node order. */
function readyz(nodes: readonly FleetNode[]): Promise<number[]> {
  return Promise.all(nodes.map(async (node) => (await health(node, '/readyz')).status));
}

/** Waits until every node's agent answers /readyz with `status`. */
async function everyReadyz(nodes: readonly FleetNode[], status: 200 | 503): Promise<void> {
  await vi.waitFor(async () => expect(await readyz(nodes)).toEqual(nodes.map(() => status)), eventually);
}

function alive(daemon: Daemon): boolean {
  return daemon.process.child.exitCode === null && daemon.process.child.signalCode === null;
}

describeSandbox('fleet harness: sandboxed nodes sharing one MariaDB', () => {
  const startFleet = useFleet();

  it('4 nodes × 2 NICs: each agent configures exactly its own NICs; stop() leaves nothing behind', async () => {
    const startedAt = performance.now();
    const fleet = await startFleet({ nodes: 4, nicsPerNode: 2 });
    const startMs = performance.now() - startedAt;
    const { db, nodes } = fleet;
    const allMacs = nodes.flatMap((node) => node.nics.map((nic) => nic.mac));
    expect(new Set(allMacs).size).toBe(8);
    const { ids, idsOf } = await insertEveryNic(fleet);
    const daemons = await Promise.all(nodes.map((node) => fleet.startAgent(node)));
    await vi.waitFor(async () => expect(await db.statuses(ids)).toEqual(Array(8).fill(1)), eventually);
    console.log(
      `fleet of 4: started in ${Math.round(startMs)} ms; 8 rows configured` +
        ` ${((performance.now() - startedAt) / 1000).toFixed(2)} s after the start`,
    );

    for (const [i, node] of nodes.entries()) {
      const links = await node.sb.links();
      for (const k of [0, 1]) {
        expect(links.find((link) => link.mac === mac(i, k))).toMatchObject({
          name: `multinic${k}`,
          mtu: 1500,
          ipv4: [{ ip: `10.${i}.${k}.10`, prefix: 24 }],
        });
      }
      // Only its own rows: its files name only its MACs, its log only its row ids.
      const files = netplanFiles(node.sb);
      expect([...files.keys()]).toEqual(['90-multinic0.yaml', '91-multinic1.yaml']);
      const text = [...files.values()].map((file) => file.content).join('\n');
      const own = node.nics.map((nic) => nic.mac);
      expect(allMacs.filter((m) => text.includes(m))).toEqual(own);
      const daemon = daemons[i]!;
      const configured = linesOf(daemon.logs, 'interface configured').map((line) => line.interface_id);
      expect(configured.sort()).toEqual(idsOf(node).sort());
      const others = daemon.logs.filter(
        (line) => line.interface_id !== undefined && !idsOf(node).includes(line.interface_id as number),
      );
      expect(others).toEqual([]);
    }
    const hostLinks = parseIpAddr(execFileSync('ip', ['-j', 'link'], { encoding: 'utf8' }));
    expect(
      hostLinks.filter((link) => allMacs.includes(link.mac) || link.name.startsWith('multinic')),
    ).toEqual([]);

    for (const daemon of await Promise.all(daemons.map((d) => d.stop('SIGTERM')))) {
      expect(daemon).toMatchObject({ code: 0, stderr: '' });
      expect(daemon.logs.filter((line) => line.level === 'error')).toEqual([]);
    }
    const sandboxes = [fleet.dbSandbox, ...nodes.map((node) => node.sb)];
    const pids = [
      ...sandboxes.flatMap((sb) => pidsInNamespaceOf(sb.pid)),
      ...daemons.map((daemon) => daemon.process.child.pid ?? 0),
    ];
    // Each sandbox's PID 1, networkd in every node, the forwarders, mariadbd and the bridge at least.
    expect(pids.length).toBeGreaterThanOrEqual(sandboxes.length + 2 * nodes.length + 2);
    const stoppingAt = performance.now();
    await fleet.stop();
    const stopMs = performance.now() - stoppingAt;
    await fleet.stop(); // twice: a no-op
    console.log(`fleet of 4: stopped in ${Math.round(stopMs)} ms`);
    expect(pids.filter((pid) => existsSync(`/proc/${pid}`))).toEqual([]);
    expect(sandboxes.map((sb) => sb.dir).filter((dir) => existsSync(dir))).toEqual([]);
    expect(sandboxes.flatMap((sb) => processesMentioning(sb.dir))).toEqual([]);
  }, 120_000);

  it('shared database stopped for 3 s: every agent stays up, is not ready meanwhile, and applies a row changed during it', async () => {
    const fleet = await startFleet({ nodes: 4, nicsPerNode: 2 });
    const { db, nodes } = fleet;
    const { ids, idsOf } = await insertEveryNic(fleet);
    const daemons = await Promise.all(nodes.map((node) => fleet.startAgent(node, { MAX_BACKOFF: '2s' })));
    await vi.waitFor(async () => expect(await db.statuses(ids)).toEqual(Array(8).fill(1)), eventually);
    await everyReadyz(nodes, 200);
    const changed = { node: nodes[2]!, nic: 1, id: idsOf(nodes[2]!)[1]! };
    const filesBefore = nodes.map((node) => netplanFiles(node.sb));

    await db.stopServer();
    const downAt = performance.now();
    // Each agent sees it at its next cycle, a poll interval away.
    await everyReadyz(nodes, 503);
    const noticedMs = performance.now() - downAt;
    // The controller changes a row meanwhile: through the server's socket only, so for every node the
    // database stays down.
    await db.startServer({ network: false });
    await db.query('UPDATE multi_interface SET mtu = 9000 WHERE id = ?', [changed.id]);
    await db.stopServer();
    expect(await readyz(nodes)).toEqual([503, 503, 503, 503]);
    await sleep(Math.max(0, 3_000 - (performance.now() - downAt)));
    expect(daemons.every(alive)).toBe(true);
    expect(nodes.map((node) => netplanFiles(node.sb))).toEqual(filesBefore);

    await db.startServer();
    const backAt = performance.now();
    await everyReadyz(nodes, 200);
    const readyMs = performance.now() - backAt;
    await vi.waitFor(async () => {
      const link = (await changed.node.sb.links()).find(
        (l) => l.mac === mac(changed.node.index, changed.nic),
      );
      expect(link).toMatchObject({ name: 'multinic1', mtu: 9000 });
    }, eventually);
    console.log(
      `shared database down ${((backAt - downAt) / 1000).toFixed(1)} s: all 4 not ready` +
        ` ${(noticedMs / 1000).toFixed(2)} s after; all ready ${(readyMs / 1000).toFixed(2)} s after it came back`,
    );
    await vi.waitFor(async () => expect(await db.statuses(ids)).toEqual(Array(8).fill(1)), eventually);
    for (const [i, node] of nodes.entries()) {
      const links = await node.sb.links();
      const mtus = [0, 1].map((k) => links.find((link) => link.mac === mac(i, k))?.mtu);
      expect(mtus).toEqual(node === changed.node ? [1500, 9000] : [1500, 1500]);
      const daemon = daemons[i]!;
      expect(alive(daemon)).toBe(true);
      await daemon.waitForLog((line) => line.msg === 'cycle succeeded again');
      expect(daemon.logs.filter((line) => line.level === 'error')).toEqual([
        expect.objectContaining({ msg: CYCLE_FAILED, error_type: 'db_connection' }),
      ]);
    }
    for (const stopped of await Promise.all(daemons.map((d) => d.stop('SIGTERM')))) {
      expect(stopped).toMatchObject({ code: 0, stderr: '' });
    }
  }, 120_000);
});
