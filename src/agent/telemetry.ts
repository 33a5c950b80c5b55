import { AgentError } from '../core/errors.js';
import { formatCidr } from '../core/ipv4.js';
import type { ForeignFile, LiveLink, Plan } from '../core/types.js';
import type { DesiredStore } from '../store/store.js';
import type { CycleReport, RowReport } from './cycle.js';
import type { Metrics } from './metrics.js';

export type InterfaceState =
  | 'configured'
  | 'pending'
  | 'waiting'
  | 'invalid'
  | 'failed'
  | 'protected'
  | 'held'
  | 'foreign'
  | 'waiting_for_rollout_slot';

/** An owned configuration kept exactly as it is (SPEC §6): the row is refused, or removal is unsafe. */
export interface HeldStatus {
  name: string;
  path: string;
  row_id: number | null;
  mac: string | null;
  reason: string;
}

export interface InterfaceStatus {
  id: number;
  name: string | null;
  mac: string | null;
  state: InterfaceState;
  desired: { address: string | null; mtu: number } | null;
  live: { name: string; addresses: string[]; mtu: number } | null;
  last_error: string | null;
  last_error_at: string | null;
}

export interface HealthBody {
  status: 'healthy' | 'degraded' | 'unhealthy';
  uptime: string;
  processed_vms: number;
  failed_configs: number;
  database_connected: boolean;
  last_sync: string | null;
  node_name: string;
  os_type: string;
  version: string;
  backoff_level: number;
  last_error: string | null;
  interfaces: InterfaceStatus[];
  /** Every held configuration, including those whose row is no longer this node's. */
  held: HeldStatus[];
  /** Files at the agent's paths (or named like its files) that it does not own and does not take over. */
  foreign_files: ForeignFile[];
  /** The node's rollout slot: none, changing (held for a change), failed (kept after a failure), waiting. */
  rollout_slot: (typeof SLOT_STATES)[number];
}

/** Values of the `state` label of multinic_rollout_slot. */
export const SLOT_STATES = ['none', 'changing', 'failed', 'waiting'] as const;

export interface TelemetryOptions {
  metrics: Metrics;
  now: () => number;
  nodeName: string;
  osType: string;
  version: string;
  /** A loop that has not finished a cycle for this long is stuck (liveness fails). */
  stuckAfterMs: number;
}

const STATE_OF: Record<RowReport['state'], InterfaceState> = {
  configured: 'configured',
  in_sync: 'configured',
  failed: 'failed',
  held: 'held',
  invalid: 'invalid',
  duplicate: 'invalid',
  capacity: 'invalid',
  protected: 'protected',
  waiting: 'waiting',
  foreign: 'foreign',
  waiting_for_rollout_slot: 'waiting_for_rollout_slot',
};

/** "3h25m10s", as in the seed's health example. */
export function formatUptime(ms: number): string {
  const total = Math.floor(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${s}s`;
}

/**
 * What the agent tells the outside: the health model behind `/`, `/healthz`, `/readyz`, and the metrics.
 * The loop reports every cycle here; nothing else writes to it.
 */
export class Telemetry {
  private readonly startedAt: number;
  private lastSync: number | null = null;
  private lastCycleEnd: number;
  private dbConnected = false;
  private backoffLevel = 0;
  private lastError: string | null = null;
  private interfaces = new Map<number, InterfaceStatus>();
  private held: HeldStatus[] = [];
  private foreign: ForeignFile[] = [];
  private slot: (typeof SLOT_STATES)[number] = 'none';

  constructor(private readonly options: TelemetryOptions) {
    this.startedAt = options.now();
    this.lastCycleEnd = this.startedAt;
  }

  /** Marks the rows about to change as pending and counts the tasks in flight and the drifts seen. */
  planned(decided: Plan): void {
    const { metrics } = this.options;
    metrics.concurrentTasks.set(decided.changes.length);
    for (const change of decided.changes) {
      for (const drift_type of change.drifts) metrics.drifts.inc({ drift_type });
      const entry = change.kind === 'remove' ? undefined : this.interfaces.get(change.nic.id);
      if (entry !== undefined) entry.state = 'pending';
    }
  }

  cycleSucceeded(report: CycleReport, seconds: number): void {
    const { metrics } = this.options;
    metrics.cycles.inc();
    metrics.cycleDuration.observe(seconds);
    metrics.concurrentTasks.set(0);
    metrics.dbConnected.set(1);
    this.dbConnected = true;
    this.lastCycleEnd = this.options.now();
    this.lastSync = this.lastCycleEnd;
    for (const { change, failure } of report.results) {
      const status = failure === null ? 'success' : 'failed';
      const interface_name = change.kind === 'remove' ? change.file.name : change.nic.name;
      metrics.processed.inc({ status });
      metrics.processingDuration.observe({ interface_name, status }, report.applySeconds);
      if (failure !== null) metrics.errors.inc({ error_type: failure.kind });
      else if (change.kind === 'remove') metrics.orphansDeleted.inc();
    }
    for (const row of report.refusedNow)
      if (row.refusal !== 'waiting') metrics.errors.inc({ error_type: 'validation' });
    this.held = report.plan.held.map((nic) => ({
      name: nic.file.name,
      path: nic.file.path,
      row_id: nic.rowId,
      mac: nic.file.config?.mac ?? null,
      reason: nic.reason,
    }));
    metrics.heldInterfaces.set(this.held.length);
    this.foreign = report.plan.foreign;
    this.slot =
      report.waitingForSlot.length > 0 && report.slot !== 'changing'
        ? 'waiting'
        : report.slot === 'unknown'
          ? 'none'
          : report.slot;
    for (const state of SLOT_STATES) metrics.rolloutSlot.set({ state }, state === this.slot ? 1 : 0);
    metrics.foreignFiles.set(this.foreign.length);
    this.lastError = report.results.find((r) => r.failure !== null)?.failure?.reason ?? null;
    this.updateInterfaces(report);
  }

  cycleFailed(err: unknown, seconds: number): void {
    const { metrics } = this.options;
    const error = err instanceof AgentError ? err : new AgentError('io', String(err));
    metrics.cycles.inc();
    metrics.cycleDuration.observe(seconds);
    metrics.concurrentTasks.set(0);
    metrics.errors.inc({ error_type: error.kind });
    if (error.kind === 'db_connection') {
      metrics.dbConnected.set(0);
      this.dbConnected = false;
    }
    this.lastCycleEnd = this.options.now();
    this.lastError = error.message;
  }

  backoff(level: number): void {
    this.backoffLevel = level;
    this.options.metrics.backoff.set(level);
  }

  private updateInterfaces(report: CycleReport): void {
    const at = new Date(this.options.now()).toISOString();
    const next = new Map<number, InterfaceStatus>();
    for (const row of report.rows) {
      const previous = this.interfaces.get(row.id);
      const outcome = report.plan.rows.find((r) => r.id === row.id);
      const nic = outcome !== undefined && outcome.state !== 'rejected' ? outcome.nic : null;
      const link = report.links.find((l) => l.mac === row.mac);
      const error = row.reason;
      next.set(row.id, {
        id: row.id,
        name: row.name,
        mac: row.mac,
        state: STATE_OF[row.state],
        desired:
          nic === null
            ? null
            : { address: nic.address === null ? null : formatCidr(nic.address), mtu: nic.mtu },
        live: link === undefined ? null : liveOf(link),
        last_error: error ?? previous?.last_error ?? null,
        last_error_at:
          error === null
            ? (previous?.last_error_at ?? null)
            : error === previous?.last_error
              ? previous.last_error_at
              : at,
      });
    }
    this.interfaces = next;
  }

  health(): HealthBody {
    const entries = [...this.interfaces.values()];
    // Waiting (for a NIC, for a rollout slot) is normal; anything else not configured is a problem.
    const fine: readonly InterfaceState[] = ['configured', 'pending', 'waiting', 'waiting_for_rollout_slot'];
    const failed = entries.filter((e) => !fine.includes(e.state));
    const alive = this.liveness().ok;
    const troubled = failed.length > 0 || this.held.length > 0 || !this.dbConnected;
    const status = !alive ? 'unhealthy' : troubled ? 'degraded' : 'healthy';
    return {
      status,
      uptime: formatUptime(this.options.now() - this.startedAt),
      processed_vms: entries.filter((e) => e.state === 'configured').length,
      failed_configs: failed.length,
      database_connected: this.dbConnected,
      last_sync: this.lastSync === null ? null : new Date(this.lastSync).toISOString(),
      node_name: this.options.nodeName,
      os_type: this.options.osType,
      version: this.options.version,
      backoff_level: this.backoffLevel,
      last_error: this.lastError,
      interfaces: entries,
      held: this.held,
      foreign_files: this.foreign,
      rollout_slot: this.slot,
    };
  }

  /** Alive while the loop keeps finishing cycles; a database outage does not make the agent dead. */
  liveness(): { ok: boolean; reason: string } {
    const idle = this.options.now() - this.lastCycleEnd;
    if (idle > this.options.stuckAfterMs)
      return { ok: false, reason: `no cycle finished for ${Math.round(idle / 1000)}s` };
    return { ok: true, reason: 'loop alive' };
  }

  /** Ready once a cycle has completed and the database answered. */
  readiness(): { ok: boolean; reason: string } {
    if (this.lastSync === null) return { ok: false, reason: 'first cycle not completed' };
    if (!this.dbConnected) return { ok: false, reason: 'database unreachable' };
    return { ok: true, reason: 'ready' };
  }
}

function liveOf(link: LiveLink) {
  return { name: link.name, addresses: link.ipv4.map(formatCidr), mtu: link.mtu };
}

/** Times every database call into multinic_db_query_duration_seconds{operation}. */
export function instrumentStore(store: DesiredStore, metrics: Metrics, now: () => number): DesiredStore {
  async function timed<T>(operation: string, call: () => Promise<T>): Promise<T> {
    const start = now();
    try {
      return await call();
    } finally {
      metrics.dbQueryDuration.observe({ operation }, (now() - start) / 1000);
    }
  }
  return {
    rowsForNode: (nodeName, ownedIds) => timed('select_rows', () => store.rowsForNode(nodeName, ownedIds)),
    writeStatus: (updates) =>
      updates.length === 0
        ? store.writeStatus(updates)
        : timed('update_status', () => store.writeStatus(updates)),
    ping: () => timed('ping', () => store.ping()),
    idle: () => store.idle(),
    close: () => store.close(),
    get stats() {
      return store.stats;
    },
  };
}
