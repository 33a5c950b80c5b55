/**
 * Figure 7: a fleet of agents polling one database. Each simulated agent is the real store
 * (createMysqlStore: its own pool, the real per-node query, the subnet-table probe on first use) driven by
 * the real loop (runLoop: first cycle at start, then every interval ±10% jitter), all in this process,
 * against a throw-away mariadbd on a free port of 127.0.0.1 loaded with 50,000 rows. Agents log in as a
 * least-privilege user with a password (sql/grant.sql), as in production.
 *
 * Connections: as the agent's cycle does (DB_KEEP_CONNECTION=false, the default), each poll opens a
 * connection and closes it at its end (store.idle()), so the server holds only the connections of polls in
 * flight, not one per agent: the figure prints how many it held at most. (Kept open, 5,000 agents needed
 * max_connections above 5,000: MariaDB's default of 151 refused all but 150.) The server still has room
 * for two per agent and the thread pool, so that the figure measures the polls, not the limit.
 */
import { setMaxListeners } from 'node:events';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { RowDataPacket } from 'mysql2/promise';
import { abortableSleep, runLoop } from '../../src/agent/loop.js';
import { AgentError } from '../../src/core/errors.js';
import { createMysqlStore, type DesiredStore } from '../../src/store/mysql.js';
import { shippedSql } from '../../test/support/mariadb.js';
import { info, line, type FigureResult } from '../support/report.js';
import { PORTS_PER_NODE, fleetRowIds, loadFleet, nodeName } from '../support/rows.js';
import { SCALE } from '../support/scale.js';
import { count, median, ms, quantile } from '../support/stats.js';
import { startThrowawayServer, type ThrowawayServer } from '../support/throwaway-server.js';

const NODES = 5_000;
const DATABASE = 'multinic';
const USER = 'multinic';
const PASSWORD = 'bench-only-secret';

/** Failed polls by reason (the store's error message). */
const errors = new Map<string, number>();

export interface Poll {
  /** When the poll started, ms since the fleet started. */
  at: number;
  latencyMs: number;
  first: boolean;
  ok: boolean;
}

export async function prepare(server: ThrowawayServer): Promise<number> {
  const { admin } = server;
  await admin.query(`CREATE DATABASE ${DATABASE}; USE ${DATABASE}`);
  await admin.query(await shippedSql('schema.sql'));
  await admin.query(await shippedSql('index.sql'));
  await admin.query(await shippedSql('fleet.sql'));
  await admin.query(`CREATE USER '${USER}'@'127.0.0.1' IDENTIFIED BY '${PASSWORD}'`);
  // The shipped grant, for this database and account; its optional multi_subnet line needs that table.
  const grants = (await shippedSql('grant.sql'))
    .replace(/multinic_db/g, DATABASE)
    .replace(/'multinic'@'%'/g, `'${USER}'@'127.0.0.1'`)
    .split('\n')
    .filter((l) => l.startsWith('GRANT') && !l.includes('multi_subnet'));
  for (const grant of grants) await admin.query(grant);
  const rows = await loadFleet(admin, NODES);
  await admin.query('ANALYZE TABLE multi_interface');
  return rows;
}

async function status(server: ThrowawayServer, name: string): Promise<number> {
  const [rows] = await server.admin.query<RowDataPacket[]>('SHOW GLOBAL STATUS LIKE ?', [name]);
  return Number(rows[0]?.['Value'] ?? NaN);
}

async function variable(server: ThrowawayServer, name: string): Promise<string> {
  const [rows] = await server.admin.query<RowDataPacket[]>(`SELECT @@${name} AS v`);
  return String(rows[0]?.['v']);
}

/** One agent: waits its random start, then polls until the signal aborts (as the daemon's loop does). */
export async function agent(
  n: number,
  store: DesiredStore,
  polls: Poll[],
  t0: number,
  signal: AbortSignal,
): Promise<void> {
  await abortableSleep(Math.random() * SCALE.fleetIntervalMs, signal);
  let first = true;
  let unreachable = false;
  const name = nodeName(n);
  const owned = fleetRowIds(n, NODES);
  await runLoop(
    {
      timing: { intervalMs: SCALE.fleetIntervalMs, maxBackoffMs: 10 * SCALE.fleetIntervalMs, jitter: 0.1 },
      random: Math.random,
      sleep: abortableSleep,
      cycle: async () => {
        const start = performance.now();
        let ok = true;
        try {
          const rows = (await store.rowsForNode(name, owned)).rows;
          ok = rows.length === PORTS_PER_NODE;
          await store.writeStatus([]); // steady state: nothing changes, nothing is sent
        } catch (error) {
          ok = false;
          unreachable = error instanceof AgentError && error.kind === 'db_connection';
          const reason = error instanceof Error ? error.message.slice(0, 90) : String(error);
          errors.set(reason, (errors.get(reason) ?? 0) + 1);
        } finally {
          await store.idle(); // the end of a cycle, as runCycle does it
        }
        polls.push({ at: start - t0, latencyMs: performance.now() - start, first, ok });
        first = false;
        return ok;
      },
      // As the daemon: an unreachable database is tried again at the poll interval, not backed off.
      retryAtInterval: () => unreachable,
    },
    signal,
  );
}

export function serverOptions(agents: number): string[] {
  return [
    `--max-connections=${2 * agents + 100}`,
    '--thread-handling=pool-of-threads',
    // The default (500 ms) lets a busy thread group hold queued statements for half a second before
    // another thread takes them; on a shared 2-core machine that made the p99 about 400 ms.
    '--thread-pool-stall-limit=10',
    '--back-log=2000',
    '--innodb-buffer-pool-size=128M',
    '--innodb-log-file-size=32M',
  ];
}

/** Figure 7b: the same fleet with DB_KEEP_CONNECTION=true, for comparison. */
const KEEP = process.env['BENCH_VARIANT'] === 'keep-connection';

export function storeFor(server: ThrowawayServer): DesiredStore {
  return createMysqlStore({
    keepConnection: KEEP,
    host: '127.0.0.1',
    port: server.port,
    user: USER,
    password: PASSWORD,
    database: DATABASE,
    connectTimeoutMs: 5_000,
    queryTimeoutMs: 10_000,
    filterDeleted: true,
  });
}

interface Window {
  startMs: number;
  endMs: number;
  serverCpuMs: number;
  clientCpuMs: number;
  loopDelayP99Ms: number;
  connectedAtStart: number;
  rampMs: number;
}

/**
 * Waits for the ramp (every agent started and made its first poll, bounded by 3 intervals), then measures a
 * window of the nominal length: server CPU, client CPU, event-loop delay.
 */
async function measureWindow(server: ThrowawayServer, polls: readonly Poll[], t0: number): Promise<Window> {
  const never = new AbortController().signal;
  const interval = SCALE.fleetIntervalMs;
  await abortableSleep(1.1 * interval, never);
  const firsts = () => polls.filter((p) => p.first).length;
  while (firsts() < SCALE.fleetAgents && performance.now() - t0 < 3 * interval)
    await abortableSleep(100, never);
  const rampMs = performance.now() - t0;
  const cpu0 = await server.cpuMs();
  const client0 = process.cpuUsage();
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  const w0 = performance.now();
  const connectedAtStart = await status(server, 'Threads_connected');
  await abortableSleep(SCALE.fleetDurationMs - 1.1 * interval, never);
  const w1 = performance.now();
  const serverCpuMs = (await server.cpuMs()) - cpu0;
  const client = process.cpuUsage(client0);
  loopDelay.disable();
  return {
    startMs: w0 - t0,
    endMs: w1 - t0,
    serverCpuMs,
    clientCpuMs: (client.user + client.system) / 1000,
    loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
    connectedAtStart,
    rampMs,
  };
}

export async function run(): Promise<FigureResult> {
  const agents = SCALE.fleetAgents;
  const server = await startThrowawayServer(serverOptions(agents));
  const stores: DesiredStore[] = [];
  try {
    const rows = await prepare(server);
    for (let n = 0; n < agents; n += 1) stores.push(storeFor(server));
    const polls: Poll[] = [];
    const stop = new AbortController();
    setMaxListeners(agents + 10, stop.signal); // one listener per sleeping agent
    const t0 = performance.now();
    const loops = stores.map((store, n) => agent(n, store, polls, t0, stop.signal));
    const window = await measureWindow(server, polls, t0);
    const snapshot = await serverSnapshot(server);
    stop.abort();
    await Promise.all(loops);
    return report(agents, rows, polls, window, snapshot);
  } finally {
    await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
    await server.stop();
  }
}

interface Snapshot {
  connected: number;
  maxUsed: number;
  poolThreads: number;
  rss: number;
  maxConnections: string;
}

async function serverSnapshot(server: ThrowawayServer): Promise<Snapshot> {
  return {
    connected: await status(server, 'Threads_connected'),
    maxUsed: await status(server, 'Max_used_connections'),
    poolThreads: await status(server, 'Threadpool_threads'),
    rss: await server.rssBytes(),
    maxConnections: await variable(server, 'max_connections'),
  };
}

function report(agents: number, rows: number, polls: Poll[], w: Window, snap: Snapshot): FigureResult {
  const inWindow = polls.filter((p) => p.at >= w.startMs && p.at < w.endMs && !p.first);
  const lat = inWindow.filter((p) => p.ok).map((p) => p.latencyMs);
  const firsts = polls.filter((p) => p.first && p.ok).map((p) => p.latencyMs);
  const failed = polls.filter((p) => !p.ok).length;
  const reasons = [...errors].sort((a, b) => b[1] - a[1]).slice(0, 3);
  const windowMs = w.endMs - w.startMs;
  const p99 = quantile(lat, 0.99);
  const pct = (cpuMs: number) => `${((cpuMs / windowMs) * 100).toFixed(1)}% of one core`;
  return {
    id: KEEP ? '7b' : '7',
    title:
      `${count(agents)} simulated agents polling every ${SCALE.fleetIntervalMs / 1000} s ±10%` +
      ` against one MariaDB with ${count(rows)} rows` +
      (KEEP ? ', connections kept open (DB_KEEP_CONNECTION=true)' : ', a connection per poll (the default)'),
    lines: [
      info(
        'polls in the window, per second',
        `${count(inWindow.length)}, ${(inWindow.length / (windowMs / 1000)).toFixed(1)}/s`,
      ),
      info('latency p50', ms(median(lat), 3)),
      line('latency p99', ms(p99, 3), '≤ 10 ms', p99 <= 10 && failed === 0),
      info('latency max', ms(quantile(lat, 1), 3)),
      info('failed polls (whole run)', String(failed)),
      ...reasons.map(([reason, n]) => info(`  ${n} ×`, reason)),
      info(
        'server CPU over the window',
        `${pct(w.serverCpuMs)} (${(w.serverCpuMs / Math.max(1, inWindow.length)).toFixed(3)} ms per poll)`,
      ),
      info(
        'server connections: now / max used / limit',
        `${count(snap.connected)} / ${count(snap.maxUsed)} / ${snap.maxConnections}`,
      ),
      info(
        'server thread-pool threads, RSS',
        `${snap.poolThreads}, ${(snap.rss / 1024 / 1024).toFixed(0)} MB`,
      ),
      info(
        'ramp: first poll (connect + probe + query), p50 / p99',
        `${ms(median(firsts), 1)} / ${ms(quantile(firsts, 0.99), 1)}`,
      ),
      info('ramp: all agents polled once after', `${(w.rampMs / 1000).toFixed(1)} s`),
      info(
        'client: CPU over the window, event-loop delay p99',
        `${pct(w.clientCpuMs)}, ${ms(w.loopDelayP99Ms, 1)}`,
      ),
    ],
    notes: [
      (KEEP
        ? 'each poll = store.rowsForNode (one SELECT of 10 rows, on the connection kept since the first poll)' +
          ' + writeStatus([]) (nothing sent) + idle() (keeps it)'
        : 'each poll = connect + store.rowsForNode (one SELECT of 10 rows) + writeStatus([]) (nothing sent)' +
          ' + idle() (the connection closed)') +
        '; latency from the call to the end of idle(), measured in the client; agents start at random' +
        ' moments of the first interval',
      `window: ${(windowMs / 1000).toFixed(0)} s, from the end of the ramp (every agent connected and polled` +
        ` once); connections open at its start: ${count(w.connectedAtStart)}`,
      `server: throw-away mariadbd on 127.0.0.1, grant tables, ${serverOptions(agents).join(' ')};` +
        ' CPU = utime + stime of mariadbd from /proc/<pid>/stat; clients and server share this machine',
      "the poll is the agent's query with the ids its files name (issue 12); the agents' own table adds no" +
        ' statement to a steady poll (figure 1), and its heartbeat (FLEET_HEARTBEAT, 10 min) adds' +
        ` ${(agents / 600).toFixed(1)} connections + UPDATEs per second for ${count(agents)} nodes`,
    ],
  };
}
