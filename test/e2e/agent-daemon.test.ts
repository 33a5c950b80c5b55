// The real agent daemon (`node cli.js run`) inside a sandbox, against the real netplan and
// systemd-networkd, with its own MariaDB: what needs state across cycles (the orphan debounce lives in
// the daemon's memory) and what happens when it is told to stop.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it, vi } from 'vitest';
import { agentEnv, runAgent, startDaemon } from '../sandbox/agent.js';
import { describeSandbox } from '../sandbox/support.js';
import { entrypoint } from '../support/entrypoint.js';
import {
  useNode,
  agentCalls,
  calls,
  eventually,
  insertRows,
  linesOf,
  mac,
  netplanFiles,
  nic,
  row,
  tempFiles,
  plugRefusingNic,
} from './agent-fixtures.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const range = (count: number) => Array.from({ length: count }, (_, n) => n);
const SEEN = 'orphaned interface seen; removed next cycle if still orphaned';

describeSandbox('agent end to end: the daemon on real netplan + systemd-networkd', () => {
  const node = useNode();

  it("removes a deleted row's file on the second cycle that sees it gone, and flushes the link", async () => {
    const { sb, db } = await node.start([nic(0), nic(1)]);
    const ids = await insertRows(db, [row(0), row(1)]);
    const daemon = await startDaemon(sb, agentEnv(db.agentEnv, { POLL_INTERVAL: '1s' }));
    await vi.waitFor(async () => expect(await db.statuses(ids)).toEqual([1, 1]), eventually);
    const kept = netplanFiles(sb).get('90-multinic0.yaml');
    const removedContent = netplanFiles(sb).get('91-multinic1.yaml')?.content;

    await db.admin.query('UPDATE multi_interface SET deleted_at = NOW() WHERE id = ?', [ids[1]]);
    const seen = await daemon.waitForLog((line) => line.msg === SEEN && line.interface_name === 'multinic1');
    // First sight: kept (the next cycle is a poll interval away).
    expect(netplanFiles(sb).has('91-multinic1.yaml')).toBe(true);
    await vi.waitFor(async () => {
      expect([...netplanFiles(sb).keys()]).toEqual(['90-multinic0.yaml']);
      const links = await sb.links();
      expect(links.find((link) => link.mac === mac(1))).toMatchObject({ name: 'multinic1', ipv4: [] });
    }, eventually);
    const removed = await daemon.waitForLog(
      (line) => line.msg === 'orphaned interface removed' && line.interface_name === 'multinic1',
    );
    expect(Date.parse(removed.time)).toBeGreaterThan(Date.parse(seen.time));
    expect(linesOf(daemon.logs, SEEN).filter((line) => line.interface_name === 'multinic1')).toHaveLength(1);
    expect(agentCalls(await calls(sb), 'ip').map((call) => call.args)).toEqual([
      '-4 addr flush dev multinic1',
    ]);

    // The other NIC is not touched; the removed file is in the backups.
    expect(netplanFiles(sb).get('90-multinic0.yaml')).toEqual(kept);
    const links = await sb.links();
    expect(links.find((link) => link.mac === mac(0))).toMatchObject({
      name: 'multinic0',
      ipv4: [{ ip: '10.0.0.10', prefix: 24 }],
    });
    const backups = join(sb.hostRoot, 'var/lib/multinic/backups');
    const saved = readdirSync(backups).map((stamp) =>
      readFileSync(join(backups, stamp, 'etc/netplan/91-multinic1.yaml'), 'utf8'),
    );
    expect(saved).toEqual([removedContent]);
    expect(await db.statuses([ids[0] ?? -1])).toEqual([1]);

    const stopped = await daemon.stop('SIGTERM');
    expect(stopped).toMatchObject({ code: 0, stderr: '' });
    expect(linesOf(stopped.logs, 'agent stopped')).toHaveLength(1);
    expect(stopped.logs.filter((line) => line.level === 'error')).toEqual([]);
  }, 60_000);

  it('waits for a NIC that is not plugged yet, then configures it within a cycle of it appearing', async () => {
    const { sb, db } = await node.start([nic(0)]);
    const ids = await insertRows(db, [row(0), row(1)]);
    const daemon = await startDaemon(sb, agentEnv(db.agentEnv, { POLL_INTERVAL: '1s' }));
    await vi.waitFor(async () => expect(await db.statuses(ids)).toEqual([1, 0]), eventually);
    const waiting = await daemon.waitForLog(
      (line) => line.msg === 'interface row not configured' && line.interface_id === ids[1],
    );
    expect(waiting).toMatchObject({ level: 'warn', state: 'waiting', mac_address: mac(1) });
    expect(String(waiting.reason)).toMatch(/waiting for NIC/);
    expect([...netplanFiles(sb).keys()]).toEqual(['90-multinic0.yaml']);
    const cycles = () => linesOf(daemon.logs, 'interface row not configured', ids[1]).length;
    // Two more cycles, still waiting: logged once, nothing written.
    await sleep(2_500);
    expect(cycles()).toBe(1);
    expect([...netplanFiles(sb).keys()]).toEqual(['90-multinic0.yaml']);

    await sb.addNic(nic(1));
    const plugged = performance.now();
    await vi.waitFor(async () => expect(await db.statuses(ids)).toEqual([1, 1]), eventually);
    console.log(
      `hot-plugged NIC: configured and verified ${((performance.now() - plugged) / 1000).toFixed(2)} s after it appeared`,
    );
    expect(await linkOfMac(mac(1))).toMatchObject({
      name: 'multinic1',
      ipv4: [{ ip: '10.0.1.10', prefix: 24 }],
    });
    expect([...netplanFiles(sb).keys()]).toEqual(['90-multinic0.yaml', '91-multinic1.yaml']);
    expect(await daemon.stop('SIGTERM')).toMatchObject({ code: 0, stderr: '' });

    async function linkOfMac(macAddress: string) {
      return (await sb.links()).find((link) => link.mac === macAddress);
    }
  }, 60_000);

  it('tries a change the kernel refuses after 0, 1, 3 cycles, not every cycle; other rows are configured meanwhile', async () => {
    const { sb, db } = await node.start([nic(0), nic(1)]);
    await plugRefusingNic(sb);
    const [first, refused] = await insertRows(db, [row(0), row(2, { mtu: 9000 })]);
    const env = agentEnv(db.agentEnv, { POLL_INTERVAL: '1s', VERIFY_TIMEOUT: '1s' });
    const daemon = await startDaemon(sb, env);
    const failures = () => linesOf(daemon.logs, 'interface configuration failed, rolled back', refused);
    const patiently = { timeout: 40_000, interval: 100 };
    await vi.waitFor(() => expect(failures().length).toBeGreaterThanOrEqual(3), patiently);
    // While row 2 waits three cycles, a new row is configured in the next cycle, in a batch without it.
    const [added] = await insertRows(db, [row(1)]);
    const statuses = () => db.statuses([first!, refused!, added!]);
    await vi.waitFor(async () => expect(await statuses()).toEqual([1, 0, 1]), eventually);
    expect(failures()).toHaveLength(3);
    await vi.waitFor(() => expect(failures().length).toBe(4), patiently);
    expect(await daemon.stop('SIGTERM')).toMatchObject({ code: 0, stderr: '' });

    expect(failures().map((line) => line.retry_in_cycles)).toEqual([0, 1, 3, 7]);
    expect(failures()[0]).toMatchObject({ level: 'error', mac_address: mac(2), error_type: 'verify' });
    expect(String(failures()[0]?.reason)).toMatch(/has MTU 1500, expected 9000/);
    expect(linesOf(daemon.logs, 'cycle failed, backing off')).toEqual([]);
    const configured = linesOf(daemon.logs, 'interface configured').map((line) => line.interface_id);
    expect(configured).toEqual([first, added]);
    // The first batch (rows 0 and 2) and its rollback, each of the three later tries with its rollback, and
    // row 1's batch (tried every cycle, the failed change would add an apply pair per cycle).
    expect(agentCalls(await calls(sb), 'netplan', /^apply/)).toHaveLength(2 + 3 * 2 + 1);
    expect((await sb.links()).find((link) => link.mac === mac(2))).toMatchObject({ mtu: 1500 });
    expect(await statuses()).toEqual([1, 0, 1]);
  }, 120_000);

  it('on SIGTERM during an apply finishes the cycle, exits 0 and leaves no temporary file', async () => {
    const { sb, db } = await node.start(range(10).map(nic));
    const ids = await insertRows(
      db,
      range(10).map((n) => row(n)),
    );
    const env = agentEnv(db.agentEnv, { POLL_INTERVAL: '1s' });
    const daemon = await startDaemon(sb, env);
    await vi.waitFor(async () => expect(agentCalls(await calls(sb), 'netplan', /^apply$/)).toHaveLength(1), {
      timeout: 15_000,
      interval: 10,
    });
    const stopped = await daemon.stop('SIGTERM');
    expect(stopped).toMatchObject({ code: 0, stderr: '' });

    // The signal came while the cycle was applying: it was finished, then the daemon stopped.
    const watched = new Set([
      'stopping: finishing the current cycle',
      'interface configured',
      'agent stopped',
    ]);
    const messages = stopped.logs.map((line) => line.msg).filter((msg) => watched.has(msg));
    expect(messages).toEqual([
      'stopping: finishing the current cycle',
      ...range(10).map(() => 'interface configured'),
      'agent stopped',
    ]);
    expect(await db.statuses(ids)).toEqual(Array(10).fill(1));
    expect(tempFiles(sb)).toEqual([]);
    expect(existsSync(join(sb.hostRoot, 'var/lib/multinic/agent.lock'))).toBe(false);
    const scratch = join(sb.hostRoot, 'var/lib/multinic/scratch'); // validation roots
    expect(existsSync(scratch) ? readdirSync(scratch) : []).toEqual([]);
    expect(agentCalls(await calls(sb), 'netplan', /^apply$/)).toHaveLength(1);

    // The next start finds the node converged: nothing to do.
    const before = await sb.calls();
    const next = await runAgent(sb, 'once', env);
    expect(next).toMatchObject({ code: 0, stderr: '' });
    expect(linesOf(next.logs, 'interface configured')).toEqual([]);
    expect(await sb.calls()).toEqual(before);
  }, 60_000);
  it('the shipped entry point (the bundle under the image flags) converges, reports its start-up, and stops cleanly', async () => {
    const { flags, entry: bundle } = entrypoint(REPO);
    if (!existsSync(bundle))
      throw new Error(`${bundle} is missing: run \`npm run build\` first (npm test does)`);
    const { sb, db } = await node.start([nic(0), nic(1)]);
    const ids = await insertRows(db, [row(0), row(1)]);
    const env = agentEnv(db.agentEnv, { POLL_INTERVAL: '2s', LOG_LEVEL: 'info' });
    const daemon = await startDaemon(sb, env, ['node', ...flags, bundle]);
    await vi.waitFor(async () => expect(await db.statuses(ids)).toEqual([1, 1]), eventually);
    const first = await daemon.waitForLog((line) => line.msg === 'first cycle done');
    expect(first).toMatchObject({ ok: true });
    expect(Number(first.startup_ms)).toBeGreaterThan(0);
    expect(daemon.logs.find((line) => line.msg === 'agent started')?.link_watch).toBe('events');
    const stopped = await daemon.stop();
    expect(stopped).toMatchObject({ code: 0 });
    // Nothing on stderr: no V8 flag warning, no missing module, no deprecation.
    expect(stopped.stderr).toBe('');
  }, 60_000);
});
