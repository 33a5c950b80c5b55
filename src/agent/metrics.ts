import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DRIFT_TYPES } from '../core/types.js';
import { ERROR_KINDS } from '../core/errors.js';

/**
 * The seed's metric table (SPEC §8), same names, types and labels, plus the database query duration and
 * the default process metrics. Label values are bounded: interface names multinic0–9, the closed drift
 * and error kinds, success/failed.
 */
export function createMetrics(info: { version: string; osType: string; nodeName: string }) {
  const registry = new Registry();
  const metrics = {
    processed: new Counter({
      name: 'multinic_interfaces_processed_total',
      help: 'Interface changes applied, by outcome (success: verified; failed: rolled back)',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    processingDuration: new Histogram({
      name: 'multinic_interface_processing_duration_seconds',
      help: 'Time to apply and verify an interface change (the batch it was part of)',
      labelNames: ['interface_name', 'status'] as const,
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers: [registry],
    }),
    cycles: new Counter({
      name: 'multinic_polling_cycles_total',
      help: 'Reconcile cycles run, successful or not',
      registers: [registry],
    }),
    cycleDuration: new Histogram({
      name: 'multinic_polling_cycle_duration_seconds',
      help: 'Duration of a reconcile cycle',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
      registers: [registry],
    }),
    backoff: new Gauge({
      name: 'multinic_polling_backoff_level',
      help: 'Backoff level: consecutive failed cycles, capped (after host errors each level doubles the interval)',
      registers: [registry],
    }),
    dbConnected: new Gauge({
      name: 'multinic_db_connection_status',
      help: 'Whether the last database call succeeded (1 connected, 0 not)',
      registers: [registry],
    }),
    concurrentTasks: new Gauge({
      name: 'multinic_concurrent_tasks',
      help: 'Interface changes being applied right now',
      registers: [registry],
    }),
    drifts: new Counter({
      name: 'multinic_configuration_drifts_total',
      help: 'Configuration drifts detected, by type',
      labelNames: ['drift_type'] as const,
      registers: [registry],
    }),
    heldInterfaces: new Gauge({
      name: 'multinic_held_interfaces',
      help: 'Owned interface configurations kept as they are because their row is refused or removal is unsafe',
      registers: [registry],
    }),
    foreignFiles: new Gauge({
      name: 'multinic_foreign_files',
      help: "Files at the agent's paths (or named like its files) that it does not own and leaves alone",
      registers: [registry],
    }),
    rolloutSlot: new Gauge({
      name: 'multinic_rollout_slot',
      help: "The node's rollout slot: 1 for its state (none, changing, failed, waiting), 0 for the others",
      labelNames: ['state'] as const,
      registers: [registry],
    }),
    orphansDeleted: new Counter({
      name: 'multinic_orphaned_interfaces_deleted_total',
      help: 'Orphaned interface configurations removed',
      registers: [registry],
    }),
    errors: new Counter({
      name: 'multinic_errors_total',
      help: 'Errors, by type',
      labelNames: ['error_type'] as const,
      registers: [registry],
    }),
    info: new Gauge({
      name: 'multinic_agent_info',
      help: 'Agent information (always 1)',
      labelNames: ['version', 'os_type', 'node_name'] as const,
      registers: [registry],
    }),
    networkManagerRestarts: new Counter({
      name: 'multinic_network_manager_restarts_total',
      help: 'NetworkManager restarts, the last resort when reloading or activating its connections failed',
      registers: [registry],
    }),
    dbQueryDuration: new Histogram({
      name: 'multinic_db_query_duration_seconds',
      help: 'Duration of database calls, by operation',
      labelNames: ['operation'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
  };
  metrics.info.set({ version: info.version, os_type: info.osType, node_name: info.nodeName }, 1);
  // Series exist from the start (at 0), so dashboards and alerts see them before the first event.
  for (const status of ['success', 'failed']) metrics.processed.inc({ status }, 0);
  for (const drift_type of DRIFT_TYPES) metrics.drifts.inc({ drift_type }, 0);
  for (const error_type of ERROR_KINDS) metrics.errors.inc({ error_type }, 0);
  metrics.orphansDeleted.inc(0);
  metrics.networkManagerRestarts.inc(0);
  metrics.dbConnected.set(0);
  metrics.heldInterfaces.set(0);
  metrics.foreignFiles.set(0);
  for (const state of ['none', 'changing', 'failed', 'waiting'])
    metrics.rolloutSlot.set({ state }, state === 'none' ? 1 : 0);
  // The process metrics (CPU, memory, fds, GC, event-loop lag). The lag monitor samples on a libuv timer:
  // at prom-client's default 10 ms it woke the idle daemon 100 times a second and was most of its idle CPU
  // (issue 15: ~10 ms of CPU per idle second); once a second keeps the series at a cost in the noise.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1000 });
  return { registry, ...metrics };
}

export type Metrics = ReturnType<typeof createMetrics>;

export interface MetricDescription {
  name: string;
  type: string;
  labels: string[];
  help: string;
}

/** The agent's own metrics (not the default process ones), for `multinic-agent metrics` and the README. */
export async function describeMetrics(metrics: Metrics): Promise<MetricDescription[]> {
  const json = await metrics.registry.getMetricsAsJSON();
  const types = new Map(json.map((metric) => [metric.name, String(metric.type)]));
  return metrics.registry
    .getMetricsAsArray()
    .filter((metric) => metric.name.startsWith('multinic_'))
    .map((metric) => {
      const { labelNames } = metric as unknown as { labelNames?: string[] };
      return {
        name: metric.name,
        type: types.get(metric.name) ?? 'untyped',
        labels: [...(labelNames ?? [])],
        help: metric.help,
      };
    });
}
