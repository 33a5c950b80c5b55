// Reacting at once (issue 15, items 4 and 5) with the real daemon on real netplan + systemd-networkd: a NIC
// hot-plugged under POLL_INTERVAL=30s is configured within the watcher's bound plus its apply, a burst of
// ten plugs is one apply, an unplug is reported as fast, a MAC on no row costs no apply, idle costs no
// process; and after a database outage the agent is ready again within one poll interval of its return.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it, vi } from 'vitest';
import { parseProm, valueOf } from '../support/prom.js';
import { agentEnv, startDaemon, type Daemon } from '../sandbox/agent.js';
import { httpGet } from '../sandbox/http.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import { describeSandbox } from '../sandbox/support.js';
import { useNode, calls, eventually, insertRows, linesOf, mac, nic, row } from './agent-fixtures.js';

const range = (count: number) => Array.from({ length: count }, (_, n) => n);
const CHANGED = 'links changed: cycle now';
/** The watcher's bound: a listing every 250 ms, settled for 500 ms. */
const DETECT_MS = 750;

async function cycles(sb: Sandbox): Promise<number> {
  const body = (await httpGet(sb, 8080, '/metrics')).body;
  return valueOf(parseProm(body).samples, 'multinic_polling_cycles_total') ?? 0;
}

/** Calls the agent made (netplan, ip) since the mark. */
async function agentCallsSince(sb: Sandbox, mark: number) {
  return (await calls(sb)).slice(mark).filter((call) => call.parent === 'node' || call.parent === 'nsenter');
}

function after(daemon: Daemon, msg: string, since: number) {
  return daemon.logs.filter((line) => line.msg === msg && Date.parse(line.time) >= since);
}

describeSandbox('reacting at once: hot-plugged NICs and a database coming back', () => {
  const node = useNode();

  it('a NIC plugged under POLL_INTERVAL=30s is configured in the same second; unplugged, reported as fast; a foreign MAC costs no apply', async () => {
    const { sb, db } = await node.start([]);
    const [id] = await insertRows(db, [row(0)]);
    const daemon = await startDaemon(sb, agentEnv(db.agentEnv, { POLL_INTERVAL: '30s' }));
    await daemon.waitForLog(
      (line) => line.msg === 'interface row not configured' && line.interface_id === id,
    );
    expect(await cycles(sb)).toBe(1);

    // Idle between polls: no process at all.
    const idleMark = (await calls(sb)).length;
    await sleep(3_000);
    expect(await agentCallsSince(sb, idleMark)).toEqual([]);

    const plugged = Date.now();
    const t0 = performance.now();
    await sb.addNic(nic(0));
    const configured = await daemon.waitForLog(
      (line) => line.msg === 'interface configured' && line.interface_id === id,
      10_000,
    );
    const seen = after(daemon, CHANGED, plugged)[0];
    expect(seen, 'the watcher saw the plug').toBeDefined();
    expect(Date.parse(seen?.time ?? '') - plugged).toBeLessThanOrEqual(DETECT_MS + 250);
    // Configured by the woken cycle (the second), long before the 30 s poll.
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(Date.parse(configured.time)).toBeGreaterThanOrEqual(Date.parse(seen?.time ?? ''));
    expect(await cycles(sb)).toBe(2);
    expect(await db.statuses([id ?? -1])).toEqual([1]);

    // A MAC on no row, plugged and unplugged: a cycle each, no apply.
    let mark = (await calls(sb)).length;
    const stranger = Date.now();
    await sb.addNic({ name: 'ens20', mac: mac(20) });
    await vi.waitFor(() => expect(after(daemon, CHANGED, stranger)).toHaveLength(1), eventually);
    await sb.execOk(['ip', 'link', 'del', 'ens20']);
    await vi.waitFor(() => expect(after(daemon, CHANGED, stranger)).toHaveLength(2), eventually);
    await sleep(500);
    expect((await agentCallsSince(sb, mark)).filter((call) => call.command === 'netplan')).toEqual([]);

    // Unplugged: the row is reported waiting within the same bound.
    mark = (await calls(sb)).length;
    const unplugged = Date.now();
    await sb.execOk(['ip', 'link', 'del', 'multinic0']);
    const reported = await daemon.waitForLog(
      (line) =>
        line.msg === 'interface row not configured' &&
        line.interface_id === id &&
        line.state === 'waiting' &&
        Date.parse(line.time) >= unplugged,
      10_000,
    );
    expect(Date.parse(reported.time) - unplugged).toBeLessThan(DETECT_MS + 2_000);
    expect(await db.statuses([id ?? -1])).toEqual([0]);
    expect(await daemon.stop()).toMatchObject({ code: 0 });
  }, 90_000);

  it('ten NICs plugged within a second: one woken cycle, one apply', async () => {
    const { sb, db } = await node.start([]);
    const ids = await insertRows(
      db,
      range(10).map((n) => row(n)),
    );
    const daemon = await startDaemon(sb, agentEnv(db.agentEnv, { POLL_INTERVAL: '30s' }));
    await vi.waitFor(
      () => expect(linesOf(daemon.logs, 'interface row not configured')).toHaveLength(10),
      eventually,
    );
    const mark = (await calls(sb)).length;
    const plugged = Date.now();
    for (const n of range(10)) {
      await sb.addNic(nic(n));
      await sleep(80);
    }
    await vi.waitFor(async () => expect(await db.statuses(ids)).toEqual(ids.map(() => 1)), {
      ...eventually,
      timeout: 20_000,
    });
    const made = await agentCallsSince(sb, mark);
    expect(made.filter((call) => call.command === 'netplan' && call.args === 'apply')).toHaveLength(1);
    expect(after(daemon, CHANGED, plugged).length).toBeLessThanOrEqual(2); // the burst, and the renames' none
    expect(await daemon.stop()).toMatchObject({ code: 0 });
  }, 90_000);

  it('after a database outage the agent is ready again within one poll interval of its return', async () => {
    const { sb, db } = await node.startRestartable([nic(0)]);
    await db.insertRows([row(0)]);
    const daemon = await startDaemon(sb, agentEnv(db.agentEnv, { POLL_INTERVAL: '3s', MAX_BACKOFF: '5m' }));
    await vi.waitFor(async () => expect((await httpGet(sb, 8080, '/readyz')).status).toBe(200), eventually);
    await db.stopServer();
    await vi.waitFor(async () => expect((await httpGet(sb, 8080, '/readyz')).status).toBe(503), eventually);
    await sleep(15_000); // the old exponential backoff would be at 3 + 6 + 12 s by now
    const health = JSON.parse((await httpGet(sb, 8080, '/')).body) as { backoff_level: number };
    expect(health.backoff_level).toBeGreaterThanOrEqual(3);
    await db.startServer();
    const back = performance.now();
    await vi.waitFor(async () => expect((await httpGet(sb, 8080, '/readyz')).status).toBe(200), {
      timeout: 10_000,
      interval: 100,
    });
    const seconds = (performance.now() - back) / 1000;
    console.info(`database back: ready again ${seconds.toFixed(2)} s later (POLL_INTERVAL=3s, outage 15 s)`);
    // One interval (3 s) + 10% jitter + the cycle and the probe's own time.
    expect(seconds).toBeLessThan(3.3 + 1);
    expect(await daemon.stop()).toMatchObject({ code: 0 });
  }, 90_000);
});
