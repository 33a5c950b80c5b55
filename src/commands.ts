import { posix } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { initialState, readAndPlan, runCycle, type CycleState } from './agent/cycle.js';
import { abortableSleep, runLoop, wakeableSleep, type LoopDeps } from './agent/loop.js';
import { ipMonitorEvents, watchLinks, type LinkWatch } from './host/link-watch.js';
import type { Config } from './config.js';
import { AgentError } from './core/errors.js';
import { formatCidr } from './core/ipv4.js';
import { MAX_NICS } from './core/naming.js';
import { recoverJournal } from './agent/transaction.js';
import type { Plan } from './core/types.js';
import { cleanStaleTemps } from './host/host-fs.js';
import { acquireLock } from './host/lock.js';
import type { Agent } from './main.js';
import { startHttpServer, type HttpServer } from './http/server.js';

const STATE_DIR = '/var/lib/multinic';
const SCRATCH_DIR = `${STATE_DIR}/scratch`;

/** Start-up clean-up after a crash: temp files of interrupted writes, scratch roots of validations. */
async function cleanUp(agent: Agent, logger: Logger): Promise<void> {
  const stale = [
    ...(await cleanStaleTemps(agent.fs, posix.dirname(agent.deps.backend.pathOf('multinic0')))),
    ...(await cleanStaleTemps(agent.fs, STATE_DIR)),
  ];
  await agent.fs.removeTree(SCRATCH_DIR);
  if (stale.length > 0) logger.warn({ files: stale }, 'removed temporary files left by an interrupted run');
  const ownPaths = new Set(
    Array.from({ length: MAX_NICS }, (_, n) => agent.deps.backend.pathOf(`multinic${n}`)),
  );
  const restored = await recoverJournal(agent.fs, ownPaths);
  if (restored !== null) {
    logger.warn(
      { files: restored },
      'restored the files of a transaction interrupted by a crash; this run re-applies',
    );
  }
}

/**
 * `rows`: edits the embedded store. Loaded only when asked for: it needs better-sqlite3, a development
 * dependency absent from the production image.
 */
export async function rowsCommand(
  args: readonly string[],
  config: Config,
  io: { out: (line: string) => void; err: (line: string) => void },
): Promise<number> {
  const rows = await import('./rows.js').catch((err: unknown) => {
    io.err(`rows needs the better-sqlite3 package (npm ci in a checkout): ${String(err)}`);
    return null;
  });
  if (rows === null) return 2;
  const result = await rows.runRows(args, config.db, config.nodeName);
  result.out.forEach(io.out);
  result.err.forEach(io.err);
  return result.code;
}

/** `once`: one locked cycle. Exit 0 when every change held, 1 otherwise. */
export async function runOnce(agent: Agent, logger: Logger): Promise<number> {
  const lock = await acquireLock(agent.fs);
  try {
    await cleanUp(agent, logger);
    return (await guardedCycle(agent, initialState(), logger)) === 'succeeded' ? 0 : 1;
  } finally {
    await lock.release();
  }
}

/**
 * `plan`: what a cycle would do, without doing it. Exit 0 in sync, 2 when changes are pending; with
 * failOnRefused, 3 when a row is refused, pending changes or not.
 */
export async function showPlan(
  agent: Agent,
  write: (line: string) => void,
  options: { failOnRefused: boolean } = { failOnRefused: false },
): Promise<number> {
  const decided = await currentPlan(agent);
  for (const line of describePlan(decided)) write(line);
  if (options.failOnRefused && countRows(decided).refused > 0) return 3;
  return decided.changes.length === 0 ? 0 : 2;
}

/** What a cycle would do now: this node's rows against the host as it is, without changing anything. */
export async function currentPlan(agent: Agent): Promise<Plan> {
  return (await readAndPlan(agent.deps, initialState())).planned;
}

export function describePlan(decided: Plan): string[] {
  const lines = decided.changes.map((change) => {
    if (change.kind === 'remove') return `remove  ${change.file.name}  ${change.file.path}  (orphan)`;
    const { nic } = change;
    const address = nic.address === null ? 'link only' : formatCidr(nic.address);
    return `${change.kind.padEnd(7)} ${nic.name}  row ${nic.id}  ${nic.mac}  ${address}  mtu ${nic.mtu}  (${change.drifts.join(', ')})`;
  });
  for (const row of decided.rows) {
    if (row.state === 'rejected')
      lines.push(`skip    row ${row.id}  ${row.problem.field}: ${row.problem.reason}`);
  }
  for (const nic of decided.held) lines.push(`hold    ${nic.file.name}  ${nic.file.path}  (${nic.reason})`);
  for (const file of decided.foreign) lines.push(`foreign ${file.path}  (${file.reason})`);
  for (const name of decided.orphanCandidates)
    lines.push(`orphan  ${name}  (removed if still orphaned next cycle)`);
  lines.push(summaryLine(decided));
  return lines;
}

/**
 * The rows a cycle leaves unconfigured: `waiting` for a NIC not on the host yet (configured once it
 * appears), and `refused`, every other state but in sync or changing (invalid, duplicate, protected, and
 * any state added later), so that a new state is counted rather than hidden.
 */
export function countRows(decided: Plan): { refused: number; waiting: number } {
  let refused = 0;
  let waiting = 0;
  for (const row of decided.rows) {
    if (row.state === 'in_sync' || row.state === 'change') continue;
    if (row.state === 'rejected' && row.problem.kind === 'waiting') waiting += 1;
    else refused += 1;
  }
  return { refused, waiting };
}

/** The plan's last line: changes pending and rows refused, e.g. `in sync: no changes pending, 0 rows refused`. */
function summaryLine(decided: Plan): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const { refused, waiting } = countRows(decided);
  const pending = decided.changes.length;
  const parts = [
    pending === 0 ? 'in sync: no changes pending' : `${plural(pending, 'change')} pending`,
    `${plural(refused, 'row')} refused`,
    ...(waiting > 0 ? [`${waiting} waiting for a NIC`] : []),
  ];
  return parts.join(', ');
}

/** `run`: the daemon. Returns the exit code once SIGTERM/SIGINT has stopped the loop. */
export async function runDaemon(agent: Agent, config: Config, logger: Logger): Promise<number> {
  const lock = await acquireLock(agent.fs);
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'stopping: finishing the current cycle');
    stop.abort();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  let server: HttpServer | undefined;
  let watch: LinkWatch | undefined;
  try {
    await cleanUp(agent, logger);
    server = await startHttpServer({
      telemetry: agent.telemetry,
      registry: agent.metrics.registry,
      port: config.healthPort,
      host: config.healthBind,
    });
    const waker = wakeableSleep();
    watch = config.linkWatch ? startLinkWatch(config, waker.wake, logger) : undefined;
    const fields = {
      node_name: config.nodeName,
      poll_interval_ms: config.pollIntervalMs,
      health_port: server.port,
      link_watch: watch?.mode ?? 'off',
    };
    logger.info(fields, 'agent started');
    const deps = loopDeps(agent, config, initialState(), logger);
    let first = true;
    const cycle = async (): Promise<boolean> => {
      const ok = await deps.cycle();
      // Since process start (performance's time origin): how long a restarted pod is not in charge.
      if (first) logger.info({ startup_ms: Math.round(performance.now()), ok }, 'first cycle done');
      first = false;
      return ok;
    };
    await runLoop({ ...deps, cycle, sleep: waker.sleep }, stop.signal);
    logger.info({}, 'agent stopped');
    return 0;
  } finally {
    watch?.stop();
    await server?.close();
    await lock.release();
  }
}

/** Hot-plug: a NIC that appears or goes (its MAC) wakes the loop for a cycle at once (host/link-watch.ts). */
function startLinkWatch(config: Config, wake: () => void, logger: Logger): LinkWatch {
  return watchLinks({
    sysClassNet: config.sysClassNet,
    pollMs: 250,
    settleMs: 500,
    minGapMs: 1_000,
    now: Date.now,
    onChange: () => {
      logger.info({}, 'links changed: cycle now');
      wake();
    },
    onUnavailable: (reason) => logger.warn({ reason }, 'link watch off: NICs are seen at the next poll'),
    // Kernel link events: nothing runs while the links are quiet. Without them, a listing every 250 ms.
    events: ipMonitorEvents(),
    onFallback: (reason) =>
      logger.warn({ reason }, `link events unavailable: listing ${config.sysClassNet} every 250 ms`),
  });
}

/** The daemon's loop: real sleep and randomness, backoff reported to telemetry and logged when it grows. */
export function loopDeps(agent: Agent, config: Config, state: CycleState, logger: Logger): LoopDeps {
  return {
    timing: { intervalMs: config.pollIntervalMs, maxBackoffMs: config.maxBackoffMs, jitter: 0.1 },
    cycle: async () => (await guardedCycle(agent, state, logger)) !== 'failed',
    random: Math.random,
    sleep: abortableSleep,
    onBackoff: (level) => {
      const previous = agent.telemetry.health().backoff_level;
      agent.telemetry.backoff(level);
      if (level > previous) logger.warn({ backoff_level: level }, 'cycle failed, backing off');
    },
    // A database outage is retried at the poll interval (±10%): each try is one refused connect, the
    // rate of a steady fleet, and the first one after the server is back finds it within an interval.
    retryAtInterval: () => state.lastCycleError === 'db_connection',
  };
}

/**
 * How a cycle ended: `failed` when it could not run (the database cannot be read, a host error: the loop
 * backs off), `changes failed` when it ran but a change was rolled back (that change backs off on its
 * own, core/retry.ts; the loop keeps its pace for the others), else `succeeded`.
 */
export type CycleOutcome = 'succeeded' | 'changes failed' | 'failed';

/**
 * A cycle that never throws: a database outage or host error is logged and reported.
 * A cycle that fails with the same kind of error as the one before is not logged again (metrics count it).
 */
export async function guardedCycle(agent: Agent, state: CycleState, logger: Logger): Promise<CycleOutcome> {
  const start = agent.deps.now();
  try {
    const report = await runCycle(agent.deps, state);
    agent.telemetry.cycleSucceeded(report, (agent.deps.now() - start) / 1000);
    if (state.lastCycleError !== null) logger.info({}, 'cycle succeeded again');
    state.lastCycleError = null;
    return report.failed === 0 ? 'succeeded' : 'changes failed';
  } catch (err) {
    const error = err instanceof AgentError ? err : new AgentError('io', String(err));
    agent.telemetry.cycleFailed(error, (agent.deps.now() - start) / 1000);
    if (state.lastCycleError !== error.kind) {
      logger.error({ error_type: error.kind, reason: error.message }, 'cycle failed; host left as it is');
    }
    state.lastCycleError = error.kind;
    return 'failed';
  }
}
