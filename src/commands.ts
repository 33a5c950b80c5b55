import type { Logger } from 'pino';
import { initialState, observe, runCycle, type CycleDeps } from './agent/cycle.js';
import { abortableSleep, runLoop } from './agent/loop.js';
import type { Config } from './config.js';
import { AgentError } from './core/errors.js';
import { formatCidr } from './core/ipv4.js';
import { NETPLAN_DIR } from './core/netplan.js';
import { plan } from './core/plan.js';
import type { Plan } from './core/types.js';
import { cleanStaleTemps } from './host/host-fs.js';
import { acquireLock } from './host/lock.js';
import type { Agent } from './main.js';

const SCRATCH_DIR = '/var/lib/multinic/scratch';

/** Start-up clean-up after a crash: temp files of interrupted writes, scratch roots of validations. */
async function cleanUp(agent: Agent, logger: Logger): Promise<void> {
  const stale = await cleanStaleTemps(agent.fs, NETPLAN_DIR);
  await agent.fs.removeTree(SCRATCH_DIR);
  if (stale.length > 0) logger.warn({ files: stale }, 'removed temporary files left by an interrupted run');
}

/** `once`: one locked cycle. Exit 0 when every change held, 1 otherwise. */
export async function runOnce(agent: Agent, logger: Logger): Promise<number> {
  const lock = await acquireLock(agent.fs);
  try {
    await cleanUp(agent, logger);
    const report = await runCycle(agent.deps, initialState());
    return report.failed === 0 ? 0 : 1;
  } finally {
    await lock.release();
  }
}

/** `plan`: what a cycle would do, without doing it. Exit 0 in sync, 2 when changes are pending. */
export async function showPlan(agent: Agent, write: (line: string) => void): Promise<number> {
  const rows = await agent.deps.store.rowsForNode(agent.deps.nodeName);
  const decided = plan(rows, await observe(agent.deps, initialState()));
  for (const line of describePlan(decided)) write(line);
  return decided.changes.length === 0 ? 0 : 2;
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
  for (const name of decided.orphanCandidates)
    lines.push(`orphan  ${name}  (removed if still orphaned next cycle)`);
  if (decided.changes.length === 0) lines.push('in sync: no changes pending');
  return lines;
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
  try {
    await cleanUp(agent, logger);
    logger.info({ node_name: config.nodeName, poll_interval_ms: config.pollIntervalMs }, 'agent started');
    const state = initialState();
    await runLoop(
      {
        timing: { intervalMs: config.pollIntervalMs, maxBackoffMs: config.maxBackoffMs, jitter: 0.1 },
        cycle: () => guardedCycle(agent.deps, state, logger),
        random: Math.random,
        sleep: abortableSleep,
        onBackoff: (level) => {
          if (level > 0) logger.warn({ backoff_level: level }, 'cycle failed, backing off');
        },
      },
      stop.signal,
    );
    logger.info({}, 'agent stopped');
    return 0;
  } finally {
    await lock.release();
  }
}

/** A cycle that never throws: a database outage or host error is logged and becomes a backoff. */
async function guardedCycle(
  deps: CycleDeps,
  state: ReturnType<typeof initialState>,
  logger: Logger,
): Promise<boolean> {
  try {
    const report = await runCycle(deps, state);
    return report.failed === 0;
  } catch (err) {
    const error = err instanceof AgentError ? err : new AgentError('io', String(err));
    logger.error({ error_type: error.kind, reason: error.message }, 'cycle failed; host left as it is');
    return false;
  }
}
