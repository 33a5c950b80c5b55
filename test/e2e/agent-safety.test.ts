// The real agent daemon inside a sandbox, on the real netplan and systemd-networkd, against a MariaDB
// in the sandbox that the test stops and starts: what keeps a node safe when things go wrong. A database
// outage mid-run and at start, SIGKILL at random moments, two agents at once; and what the daemon reports
// on its health server (queried from inside the sandbox, whose network namespace it listens in).
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it, vi } from 'vitest';
import { nameOfNetplanFile, parseNetplan } from '../../src/core/netplan.js';
import { OWNERSHIP_HEADER } from '../../src/core/ownership.js';
import { parseProm, valueOf, type Sample } from '../support/prom.js';
import {
  agentCli,
  agentEnv,
  parseLogs,
  runAgent,
  startDaemon,
  type Daemon,
  type LogLine,
} from '../sandbox/agent.js';
import { httpGet } from '../sandbox/http.js';
import type { Link } from '../sandbox/links.js';
import type { RestartableDatabase } from '../sandbox/restartable-mariadb.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import { describeSandbox } from '../sandbox/support.js';
import {
  agentCalls,
  calls,
  type Call,
  eventually,
  linesOf,
  mac,
  netplanFiles,
  networkdRestarts,
  nic,
  row,
  tempFiles,
  plugRefusingNic,
  useNode,
  withoutWatch,
} from './agent-fixtures.js';

const range = (count: number) => Array.from({ length: count }, (_, n) => n);
const HEALTH_PORT = 8080;
const CYCLE_FAILED = 'cycle failed; host left as it is';
const OUTAGE_MS = 60_000;

/** What the daemon's health server says, all four endpoints at one moment. */
interface Probe {
  healthz: number;
  readyz: number;
  health: { status: string; database_connected: boolean; backoff_level: number; last_error: string | null };
  metrics: Sample[];
}

async function probe(sb: Sandbox): Promise<Probe> {
  const [healthz, readyz, health, metrics] = await Promise.all(
    ['/healthz', '/readyz', '/', '/metrics'].map((path) => httpGet(sb, HEALTH_PORT, path)),
  );
  return {
    healthz: healthz?.status ?? 0,
    readyz: readyz?.status ?? 0,
    health: JSON.parse(health?.body ?? '{}') as Probe['health'],
    metrics: parseProm(metrics?.body ?? '').samples,
  };
}

async function readyzStatus(sb: Sandbox): Promise<number> {
  return (await httpGet(sb, HEALTH_PORT, '/readyz')).status;
}

function alive(daemon: Daemon): boolean {
  return daemon.process.child.exitCode === null && daemon.process.child.signalCode === null;
}

async function linkOf(sb: Sandbox, macAddress: string): Promise<Link | undefined> {
  return (await sb.links()).find((link) => link.mac === macAddress);
}

/** Runs the agent inside the sandbox until it exits by itself, bounded (a daemon that keeps running fails). */
async function runToExit(sb: Sandbox, command: 'once' | 'run', env: Record<string, string>) {
  const proc = sb.spawn(['node', await agentCli(), command], { env, stdin: 'ignore' });
  const result = await Promise.race([proc.done, sleep(20_000, null)]);
  if (result === null) throw new Error(`a second \`${command}\` did not exit within 20 s`);
  return { ...result, logs: parseLogs(result.stdout) };
}

interface DesiredRow {
  k: number;
  host: number;
  prefix: number;
  mtu: number;
  deleted: boolean;
}

/** Writes row k of the kill test: 10.0.k.<host> in 10.0.k.0/<prefix>, its MTU, deleted or not. */
async function writeRow(db: RestartableDatabase, id: number, target: DesiredRow): Promise<void> {
  const { k, host, prefix, mtu, deleted } = target;
  const cidr = `10.0.${k}.0/${prefix}`;
  await db.query(
    'UPDATE multi_interface SET address = ?, cidr = ?, mtu = ?, deleted_at = IF(?, NOW(), NULL) WHERE id = ?',
    [`10.0.${k}.${host}`, cidr, mtu, deleted, id],
  );
}

/** Where in its cycle a killed agent was, from its log and the commands it ran. */
function momentOf(logs: readonly LogLine[], roundCalls: readonly Call[]): string {
  const done = logs.some((line) =>
    /^interface (configured|configuration failed)|^orphaned interface removed/.test(line.msg),
  );
  if (done) return 'after its apply';
  if (agentCalls(roundCalls, 'netplan', /^(apply|try)\b/).length > 0) return 'applying or verifying';
  if (agentCalls(roundCalls, 'netplan', /^generate/).length > 0) return 'validating or writing';
  return 'before validating (reading rows, or idle)';
}

function daemonEnv(db: RestartableDatabase, overrides: Record<string, string> = {}) {
  return agentEnv(db.agentEnv, {
    POLL_INTERVAL: '1s',
    MAX_BACKOFF: '8s',
    HEALTH_PORT: String(HEALTH_PORT),
    ...overrides,
  });
}

/** mulberry32: a small seeded PRNG, so a failing run of the kill test can be replayed with its seed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

describeSandbox('agent end to end: safety of the daemon on real netplan + systemd-networkd', () => {
  const node = useNode();

  it('database stopped for 60 s mid-run: stays up, reports it, deletes nothing, recovers by itself', async () => {
    const { sb, db } = await node.startRestartable(range(3).map(nic));
    const ids = await db.insertRows(range(3).map((n) => row(n)));
    const daemon = await startDaemon(sb, daemonEnv(db));
    await vi.waitFor(async () => expect(await db.statuses(ids)).toEqual([1, 1, 1]), eventually);
    await vi.waitFor(async () => expect(await readyzStatus(sb)).toBe(200), eventually);
    const up = await probe(sb);
    expect(up).toMatchObject({ healthz: 200, readyz: 200, health: { database_connected: true } });
    expect(valueOf(up.metrics, 'multinic_db_connection_status')).toBe(1);
    expect(valueOf(up.metrics, 'multinic_polling_backoff_level')).toBe(0);
    const files = netplanFiles(sb);
    const links = await sb.links();
    const callLog = await sb.calls();
    const logsBefore = daemon.logs.length;

    await db.stopServer();
    const downAt = performance.now();
    // The agent sees it at its next cycle, a poll interval away.
    await vi.waitFor(async () => expect(await readyzStatus(sb)).toBe(503), eventually);
    const samples: Probe[] = [];
    let changed = false;
    while (performance.now() - downAt < OUTAGE_MS) {
      if (!changed && performance.now() - downAt > 10_000) {
        // Meanwhile the controller changes rows: an address, and a deletion. The server is reachable
        // through its socket only, so for the agent the database stays down all along.
        await db.startServer({ network: false });
        await db.query('UPDATE multi_interface SET address = ? WHERE id = ?', ['10.0.0.11', ids[0]]);
        await db.query('UPDATE multi_interface SET deleted_at = NOW() WHERE id = ?', [ids[1]]);
        await db.stopServer();
        changed = true;
      }
      samples.push(await probe(sb));
      expect(alive(daemon)).toBe(true);
      // Nothing on the host moves: no file, no address, no process (not even netplan generate).
      expect(netplanFiles(sb)).toEqual(files);
      expect(await sb.links()).toEqual(links);
      expect(await sb.calls()).toEqual(callLog);
      await sleep(2_000);
    }
    const outage = daemon.logs.slice(logsBefore);
    const lastDown = samples.at(-1);
    console.log(
      `database down ${((performance.now() - downAt) / 1000).toFixed(1)} s: ${samples.length} probes,` +
        ` ${valueOf(lastDown?.metrics ?? [], 'multinic_errors_total', { error_type: 'db_connection' })}` +
        ` failed cycles, backoff level reached ${valueOf(lastDown?.metrics ?? [], 'multinic_polling_backoff_level')}`,
    );
    expect(changed).toBe(true);
    for (const sample of samples) {
      expect(sample).toMatchObject({
        healthz: 200,
        readyz: 503,
        health: { status: 'degraded', database_connected: false },
      });
      expect(sample.health.backoff_level).toBeGreaterThan(0);
      expect(valueOf(sample.metrics, 'multinic_db_connection_status')).toBe(0);
      expect(valueOf(sample.metrics, 'multinic_polling_backoff_level')).toBeGreaterThan(0);
    }
    // Retried many times, logged once.
    const failedCycles = valueOf(lastDown?.metrics ?? [], 'multinic_errors_total', {
      error_type: 'db_connection',
    });
    expect(failedCycles).toBeGreaterThanOrEqual(5);
    const errors = outage.filter((line) => line.level === 'error');
    expect(errors).toEqual([expect.objectContaining({ msg: CYCLE_FAILED, error_type: 'db_connection' })]);
    expect(
      outage.filter((line) => line.msg === 'cycle failed, backing off').map((l) => l.backoff_level),
    ).toEqual([1, 2, 3]);

    // Back: ready again by itself, and the change made meanwhile is applied.
    await db.startServer();
    const backAt = performance.now();
    const backAtWall = Date.now();
    for (;;) {
      if ((await readyzStatus(sb)) === 200) break;
      expect(performance.now() - backAt).toBeLessThan(30_000);
      await sleep(100);
    }
    const readySeconds = (performance.now() - backAt) / 1000;
    const again = await daemon.waitForLog((line) => line.msg === 'cycle succeeded again');
    console.log(
      `database back: /readyz 200 after ${readySeconds.toFixed(2)} s (probed every 0.1 s);` +
        ` the agent's first good cycle ended ${((Date.parse(again.time) - backAtWall) / 1000).toFixed(2)} s after`,
    );
    await vi.waitFor(async () => {
      expect(await linkOf(sb, mac(0))).toMatchObject({
        name: 'multinic0',
        ipv4: [{ ip: '10.0.0.11', prefix: 24 }],
      });
      // The deleted row's file goes only now, after the debounce, and the link is flushed.
      expect([...netplanFiles(sb).keys()]).toEqual(['90-multinic0.yaml', '92-multinic2.yaml']);
      expect(await linkOf(sb, mac(1))).toMatchObject({ name: 'multinic1', ipv4: [] });
    }, eventually);
    const removed = await daemon.waitForLog((line) => line.msg === 'orphaned interface removed');
    expect(Date.parse(removed.time)).toBeGreaterThan(backAtWall);
    expect(await linkOf(sb, mac(2))).toEqual(links.find((link) => link.mac === mac(2)));
    expect(await db.statuses([ids[0] ?? -1, ids[2] ?? -1])).toEqual([1, 1]);
    const recovered = await probe(sb);
    expect(recovered).toMatchObject({
      healthz: 200,
      readyz: 200,
      health: { database_connected: true, backoff_level: 0 },
    });
    expect(valueOf(recovered.metrics, 'multinic_db_connection_status')).toBe(1);
    expect(valueOf(recovered.metrics, 'multinic_polling_backoff_level')).toBe(0);
    expect(daemon.logs.slice(logsBefore).filter((line) => line.level === 'error')).toHaveLength(1);

    expect(await daemon.stop('SIGTERM')).toMatchObject({ code: 0, stderr: '' });
  }, 150_000);

  it('started while the database is down: stays up, not ready; ready once it starts, then configures', async () => {
    const { sb, db } = await node.startRestartable([nic(0), nic(1)]);
    const ids = await db.insertRows([row(0), row(1)]);
    await db.stopServer();
    const daemon = await startDaemon(sb, daemonEnv(db));
    await daemon.waitForLog((line) => line.msg === 'agent started');
    await daemon.waitForLog((line) => line.msg === CYCLE_FAILED);
    const downFor = performance.now() + 5_000;
    while (performance.now() < downFor) {
      const sample = await probe(sb);
      expect(sample).toMatchObject({ healthz: 200, readyz: 503, health: { database_connected: false } });
      expect(valueOf(sample.metrics, 'multinic_db_connection_status')).toBe(0);
      expect(alive(daemon)).toBe(true);
      await sleep(500);
    }
    expect([...netplanFiles(sb).keys()]).toEqual([]);
    expect(withoutWatch(await calls(sb))).toEqual([]);
    expect(await linkOf(sb, mac(0))).toMatchObject({ name: 'ens3', ipv4: [] });

    await db.startServer();
    const backAt = performance.now();
    await vi.waitFor(async () => expect(await readyzStatus(sb)).toBe(200), {
      timeout: 30_000,
      interval: 100,
    });
    console.log(
      `started without a database: ready ${((performance.now() - backAt) / 1000).toFixed(2)} s after it came up`,
    );
    await vi.waitFor(async () => expect(await db.statuses(ids)).toEqual([1, 1]), eventually);
    for (const n of [0, 1]) {
      expect(await linkOf(sb, mac(n))).toMatchObject({
        name: `multinic${n}`,
        ipv4: [{ ip: `10.0.${n}.10`, prefix: 24 }],
      });
    }
    expect([...netplanFiles(sb).keys()]).toEqual(['90-multinic0.yaml', '91-multinic1.yaml']);
    expect(daemon.logs.filter((line) => line.level === 'error')).toEqual([
      expect.objectContaining({ msg: CYCLE_FAILED, error_type: 'db_connection' }),
    ]);
    expect(await daemon.stop('SIGTERM')).toMatchObject({ code: 0, stderr: '' });
  }, 90_000);

  it('a second agent on the same host, `once` or `run`, exits lock_held and touches nothing', async () => {
    const { sb, db } = await node.startRestartable([nic(0), nic(1)]);
    const ids = await db.insertRows([row(0), row(1)]);
    // One cycle, then an hour's sleep: a change made now stays pending, for the second agent to take.
    const first = await startDaemon(sb, daemonEnv(db, { POLL_INTERVAL: '1h' }));
    await vi.waitFor(async () => expect(await db.statuses(ids)).toEqual([1, 1]), eventually);
    await first.waitForLog((line) => line.msg === 'agent started');
    await db.query('UPDATE multi_interface SET address = ?, netplan_success = 0 WHERE id = ?', [
      '10.0.0.11',
      ids[0],
    ]);
    // A temporary file as a crashed run leaves it: a start that cleans up before locking would take it.
    writeFileSync(join(sb.hostRoot, 'etc/netplan/.90-multinic0.yaml.multinic-tmp'), 'partial', {
      mode: 0o600,
    });
    const lockPath = join(sb.hostRoot, 'var/lib/multinic/agent.lock');
    const lock = readFileSync(lockPath, 'utf8');
    const files = netplanFiles(sb);
    const links = await sb.links();
    const callLog = await sb.calls();

    const once = await runToExit(sb, 'once', daemonEnv(db));
    const run = await runToExit(sb, 'run', daemonEnv(db));
    for (const [command, result] of [
      ['once', once],
      ['run', run],
    ] as const) {
      expect(result.code, command).toBe(1);
      expect(result.logs, command).toEqual([
        expect.objectContaining({ level: 'error', msg: 'command failed', error_type: 'lock_held' }),
      ]);
      expect(String(result.logs[0]?.reason)).toMatch(
        /another agent \(pid \d+\) holds \/var\/lib\/multinic\/agent\.lock/,
      );
    }
    expect(netplanFiles(sb)).toEqual(files); // the temporary file included
    expect(await sb.links()).toEqual(links);
    expect(await sb.calls()).toEqual(callLog);
    expect(readFileSync(lockPath, 'utf8')).toBe(lock);
    expect(await db.statuses(ids)).toEqual([0, 1]);
    expect(alive(first)).toBe(true);
    expect((await probe(sb)).healthz).toBe(200); // the first one's server, still serving

    const stopped = await first.stop('SIGTERM');
    expect(stopped).toMatchObject({ code: 0, stderr: '' });
    expect(stopped.logs.filter((line) => line.level === 'error')).toEqual([]);
    expect(existsSync(lockPath)).toBe(false);
  }, 60_000);

  it.each(['apply', 'try'] as const)(
    'APPLY_MODE=%s: kill -9 at random moments of 20 cycles with changes: never a partial or foreign file, converges after',
    async (mode) => {
      const seed = Number(process.env.MULTINIC_KILL_SEED ?? Math.floor(Math.random() * 2 ** 31));
      console.log(`kill -9 rounds: seed ${seed} (replay with MULTINIC_KILL_SEED=${seed})`);
      const random = prng(seed);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
      const count = 4;
      const { sb, db } = await node.startRestartable(range(count).map(nic));
      // Row k: 10.0.k.<host>/24 or /25 (host below 126, so both hold it), no overlap between rows.
      const desired = range(count).map((k) => ({ host: 10, prefix: 24, mtu: 1500, deleted: false, k }));
      const ids = await db.insertRows(range(count).map((k) => row(k)));
      const env = daemonEnv(db, { APPLY_MODE: mode });
      const netplanDir = join(sb.hostRoot, 'etc/netplan');
      const moments = new Map<string, number>();
      let cleanedStarts = 0;
      const began = performance.now();

      for (let round = 1; round <= 20; round += 1) {
        // Some row changes: its address, MTU, prefix, or it is deleted (or comes back).
        const target = pick(desired);
        const kind = pick(['address', 'mtu', 'prefix', 'delete'] as const);
        if (kind === 'address') target.host = 10 + Math.floor(random() * 116);
        if (kind === 'mtu') target.mtu = pick([1400, 1450, 1500, 9000].filter((m) => m !== target.mtu));
        if (kind === 'prefix') target.prefix = target.prefix === 24 ? 25 : 24;
        if (kind === 'delete') target.deleted = !target.deleted;
        await writeRow(db, ids[target.k] ?? -1, target);

        if (round % 5 === 0) {
          // A kill rarely lands inside a write (a few ms): every fifth round, plant what one leaves.
          const half = `${OWNERSHIP_HEADER}\nnetwork:\n  version: 2\n  ether`;
          writeFileSync(join(netplanDir, `.9${target.k}-multinic${target.k}.yaml.multinic-tmp`), half);
        }
        // The agent also cleans its state directory: a kill inside the journal's own atomic write leaves
        // `.transaction.json.multinic-tmp` there (seen on CI); every fifth round plants one too.
        const stateDir = join(sb.hostRoot, 'var', 'lib', 'multinic');
        if (round % 5 === 2)
          writeFileSync(join(stateDir, '.transaction.json.multinic-tmp'), '{"version":1,"entr');
        const leftovers = [netplanDir, stateDir].flatMap((dir) =>
          readdirSync(dir).filter((name) => name.endsWith('.multinic-tmp')),
        );
        const callsBefore = (await sb.calls()).length;
        const daemon = await startDaemon(sb, env);
        await daemon.waitForLog((line) => line.msg === 'agent started');
        // What the previous kill left half-written is gone once the agent has started, and said so.
        const cleaned = linesOf(daemon.logs, 'removed temporary files left by an interrupted run');
        expect(cleaned.map((line) => (line.files as string[]).sort())).toEqual(
          leftovers.length === 0 ? [] : [leftovers.sort()],
        );
        for (const name of leftovers) {
          expect(existsSync(join(netplanDir, name)), name).toBe(false);
          expect(existsSync(join(stateDir, name)), name).toBe(false);
        }
        if (leftovers.length > 0) cleanedStarts += 1;

        // The cycle starts right after 'agent started': a kill 0–1.5 s later lands anywhere in it.
        await sleep(random() * 1_500);
        const killed = await daemon.stop('SIGKILL');
        expect(killed.code).toBe(128 + 9);
        const moment = momentOf(killed.logs, (await calls(sb)).slice(callsBefore));
        moments.set(moment, (moments.get(moment) ?? 0) + 1);

        // Every file is one of the agent's, whole: the header, the exact shape it writes, one of the rows.
        for (const [name, file] of netplanFiles(sb)) {
          if (/^\.9\d-multinic\d\.yaml\.multinic-tmp$/.test(name)) continue; // checked at the next start
          const where = `round ${round} (${kind}, killed ${moment}): ${name}`;
          expect(nameOfNetplanFile(name), where).not.toBeNull();
          expect(file.content.startsWith(`${OWNERSHIP_HEADER}\n`), where).toBe(true);
          const config = parseNetplan(file.content);
          expect(config?.name, where).toBe(nameOfNetplanFile(name));
          expect(range(count).map(mac), where).toContain(config?.mac);
          expect(file.mode, where).toBe(0o600);
        }
      }
      const killSeconds = (performance.now() - began) / 1000;

      // Everything back, then one last start that is left to run.
      for (const target of desired) {
        target.deleted = false;
        await writeRow(db, ids[target.k] ?? -1, target);
      }
      const restarted = performance.now();
      const daemon = await startDaemon(sb, env);
      await vi.waitFor(
        async () => {
          expect(await db.statuses(ids)).toEqual(Array(count).fill(1));
          const links = await sb.links();
          const files = netplanFiles(sb);
          const names = new Set<string>();
          for (const target of desired) {
            const link = links.find((l) => l.mac === mac(target.k));
            const address = { ip: `10.0.${target.k}.${target.host}`, prefix: target.prefix };
            expect(link).toMatchObject({ mtu: target.mtu, up: true, ipv4: [address] });
            expect(link?.name).toMatch(/^multinic\d$/);
            names.add(link?.name ?? '');
            const file = [...files].find(([name]) => nameOfNetplanFile(name) === link?.name)?.[1];
            expect(parseNetplan(file?.content ?? '')).toEqual({
              name: link?.name,
              mac: mac(target.k),
              address,
              mtu: target.mtu,
            });
          }
          expect(names.size).toBe(count);
          expect(files.size).toBe(count);
        },
        { timeout: 30_000, interval: 200 },
      );
      console.log(
        `kill -9, APPLY_MODE=${mode}: 20 rounds in ${killSeconds.toFixed(1)} s, killed ${[...moments].map(([m, n]) => `${n}× ${m}`).join(', ')};` +
          ` ${cleanedStarts} start(s) removed a half-written file (4 netplan files and 4 journals planted); converged ${((performance.now() - restarted) / 1000).toFixed(2)} s after the final start`,
      );
      // Converged may come before the new daemon is up (the last round can leave the node as desired): a
      // SIGTERM before it installed its handlers would end it by the signal, not by its graceful stop.
      await daemon.waitForLog((line) => line.msg === 'agent started');
      const stopped = await daemon.stop('SIGTERM');
      expect(stopped).toMatchObject({ code: 0, stderr: '' });
      const left = tempFiles(sb);
      if (left.length > 0) console.log(`temporary files left outside /etc/netplan: ${left.join(', ')}`);
      expect(left.filter((path) => path.startsWith('etc/'))).toEqual([]);
      expect(existsSync(sb.outsidePath('/run/netplan/netplan-try.ready'))).toBe(false);
      expect(await runAgent(sb, 'plan', env)).toMatchObject({ code: 0 });
    },
    180_000,
  );

  it('after a kill -9 while verifying an apply, the next start puts the old working file back', async () => {
    const { sb, db } = await node.startRestartable([nic(0), nic(1)]);
    await plugRefusingNic(sb);
    const ids = await db.insertRows(range(3).map((n) => row(n)));
    const env = daemonEnv(db, { VERIFY_TIMEOUT: '5s' });
    expect(await runAgent(sb, 'once', env)).toMatchObject({ code: 0 });
    const before = netplanFiles(sb);

    // A change the kernel refuses: applied, then verified for 20 s; the agent dies meanwhile.
    await db.query('UPDATE multi_interface SET mtu = 9000, address = ? WHERE id = ?', ['10.0.2.20', ids[2]]);
    const callsBefore = (await sb.calls()).length;
    const daemon = await startDaemon(sb, { ...env, VERIFY_TIMEOUT: '20s', POLL_INTERVAL: '1h' });
    await vi.waitFor(
      async () =>
        expect(agentCalls((await calls(sb)).slice(callsBefore), 'netplan', /^apply$/)).toHaveLength(1),
      { timeout: 20_000, interval: 50 },
    );
    await sleep(1_000);
    await daemon.stop('SIGKILL');
    const left = netplanFiles(sb).get('92-multinic2.yaml')?.content ?? '';
    expect(parseNetplan(left)).toMatchObject({ mtu: 9000 }); // the unverified file, as the crash left it

    // The next start: the unverified file must not stay as the node's configuration. What it finds
    // is a file equal to the row: a 'reapply', which has no old file to go back to.
    const run = await runAgent(sb, 'once', env);
    expect(run.code).toBe(1);
    expect(linesOf(run.logs, 'interface configuration failed, rolled back', ids[2])).toHaveLength(1);
    expect(await db.statuses(ids)).toEqual([1, 1, 0]);
    expect(netplanFiles(sb).get('92-multinic2.yaml')?.content).toBe(before.get('92-multinic2.yaml')?.content);
    expect(await linkOf(sb, mac(2))).toMatchObject({ mtu: 1500, ipv4: [{ ip: '10.0.2.10', prefix: 24 }] });
  }, 90_000);

  it('10 new NICs under the running daemon: all verified after one apply (convergence figure)', async () => {
    const { sb, db } = await node.startRestartable(range(10).map(nic));
    const daemon = await startDaemon(sb, daemonEnv(db));
    await vi.waitFor(async () => expect(await readyzStatus(sb)).toBe(200), eventually); // an empty cycle done
    const callsBefore = (await sb.calls()).length;

    const insertedAt = performance.now();
    const ids = await db.insertRows(range(10).map((n) => row(n)));
    for (;;) {
      const statuses = await db.statuses(ids);
      if (statuses.every((status) => status === 1)) break;
      expect(performance.now() - insertedAt).toBeLessThan(30_000);
      await sleep(50);
    }
    const seconds = (performance.now() - insertedAt) / 1000;
    const during = (await calls(sb)).slice(callsBefore);
    const netplanRuns = agentCalls(during, 'netplan');
    console.log(
      `daemon, 10 new NICs: all rows netplan_success=1 ${seconds.toFixed(2)} s after the insert` +
        ` (POLL_INTERVAL=1s); ${netplanRuns.length} netplan runs (${netplanRuns.map((c) => c.args.split(' ')[0]).join(', ')}),` +
        ` ${networkdRestarts(during)} networkd restart(s)`,
    );
    expect(agentCalls(during, 'netplan', /^apply$/)).toHaveLength(1);
    expect(networkdRestarts(during)).toBe(1);
    const links = await sb.links();
    for (const n of range(10)) {
      expect(links.find((link) => link.mac === mac(n))).toMatchObject({
        name: `multinic${n}`,
        ipv4: [{ ip: `10.0.${n}.10`, prefix: 24 }],
      });
    }
    expect(await daemon.stop('SIGTERM')).toMatchObject({ code: 0, stderr: '' });
  }, 60_000);

  it('repairs an MTU changed by hand and counts it: live_mtu drifts 1 on /metrics', async () => {
    const { sb, db } = await node.startRestartable(range(3).map(nic));
    const ids = await db.insertRows(range(3).map((n) => row(n)));
    const daemon = await startDaemon(sb, daemonEnv(db));
    await vi.waitFor(async () => expect(await db.statuses(ids)).toEqual([1, 1, 1]), eventually);
    const before = await probe(sb);
    expect(valueOf(before.metrics, 'multinic_configuration_drifts_total', { drift_type: 'live_mtu' })).toBe(
      0,
    );

    await sb.execOk(['ip', 'link', 'set', 'multinic2', 'mtu', '1400']);
    const repaired = await daemon.waitForLog(
      (line) => line.msg === 'interface configured' && line.action === 'reapply',
    );
    expect(repaired).toMatchObject({ interface_id: ids[2], action: 'reapply', drifts: ['live_mtu'] });
    await vi.waitFor(async () => expect(await linkOf(sb, mac(2))).toMatchObject({ mtu: 1500 }), eventually);
    await sleep(2_500); // two more cycles: counted once, not once per cycle
    const { metrics } = await probe(sb);
    expect(valueOf(metrics, 'multinic_configuration_drifts_total', { drift_type: 'live_mtu' })).toBe(1);
    expect(valueOf(metrics, 'multinic_configuration_drifts_total', { drift_type: 'missing_file' })).toBe(3);
    expect(valueOf(metrics, 'multinic_interfaces_processed_total', { status: 'success' })).toBe(4);
    expect(linesOf(daemon.logs, 'interface configured')).toHaveLength(4);
    expect(await daemon.stop('SIGTERM')).toMatchObject({ code: 0, stderr: '' });
  }, 60_000);
});
