import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { type CycleDeps } from './agent/cycle.js';
import { trialUnsupported, type Config } from './config.js';
import { AgentError } from './core/errors.js';
import { backendFor, parseOsRelease, type BackendKind } from './core/os-release.js';
import type { LiveLink } from './core/types.js';
import { createAddressTool } from './host/addresses.js';
import type { Backend } from './host/backends/backend.js';
import { createNetplanBackend } from './host/backends/netplan.js';
import { createNetworkManagerBackend } from './host/backends/network-manager.js';
import { createBackup } from './host/backups.js';
import { createRunner, type CommandRunner } from './host/exec.js';
import { createHostFs, type HostFs } from './host/host-fs.js';
import { readDefaultRouteInterfaces, readLinks } from './host/links.js';
import { createFleetStore } from './store/fleet.js';
import { createMysqlStore } from './store/mysql.js';
import type { DesiredStore } from './store/store.js';
import { createMetrics, type Metrics } from './agent/metrics.js';
import { Telemetry, instrumentStore } from './agent/telemetry.js';
import { VERSION } from './version.js';

export interface Agent {
  deps: CycleDeps;
  telemetry: Telemetry;
  metrics: Metrics;
  fs: HostFs;
  runner: CommandRunner;
  close(): Promise<void>;
}

/** Filesystem-safe ISO stamp: backups and scratch directories sort by time. */
export function stamp(date: Date): string {
  return date.toISOString().replace(/:/g, '-');
}

/** The host's OS decides the backend unless OS_TYPE forces it; a trial needs netplan either way. */
async function detectBackend(config: Config, fs: HostFs): Promise<BackendKind> {
  if (config.osType !== 'auto') return config.osType;
  const text = (await fs.readText('/etc/os-release')) ?? (await fs.readText('/usr/lib/os-release'));
  if (text === null)
    throw new AgentError(
      'config',
      `no /etc/os-release under the host root ${config.hostRoot}: in a container mount the host's / there;` +
        ' outside one set HOST_ROOT=/ COMMAND_PREFIX= (this machine, commands run beside the agent)',
    );
  const verdict = backendFor(parseOsRelease(text));
  if (!verdict.ok) throw new AgentError('config', verdict.reason);
  const trialProblem = trialUnsupported(verdict.kind, config.applyMode);
  if (trialProblem !== null)
    throw new AgentError('config', `${trialProblem} (detected from /etc/os-release)`);
  return verdict.kind;
}

interface BackendParts {
  kind: BackendKind;
  config: Config;
  fs: HostFs;
  runner: CommandRunner;
  readLinks: () => Promise<LiveLink[]>;
  sleep: (ms: number) => Promise<void>;
  metrics: Metrics;
  logger: Logger;
}

/** netplan on Ubuntu/Debian; NetworkManager with ifcfg or keyfile profiles on the RHEL family. */
function createBackend(parts: BackendParts): Backend {
  const { config } = parts;
  // Behind nsenter commands see the host's own root; without a prefix they see it where it is mounted.
  const commandRoot = config.commandPrefix.length > 0 ? '/' : config.hostRoot;
  let scratch = 0;
  const common = {
    fs: parts.fs,
    runner: parts.runner,
    commandRoot,
    applyTimeoutMs: config.applyTimeoutMs,
    scratchId: () => `${stamp(new Date())}-${process.pid}-${(scratch += 1)}`,
    now: Date.now,
    sleep: parts.sleep,
    adopt: config.adoptUnmanaged,
  };
  if (parts.kind === 'netplan') return createNetplanBackend(common);
  return createNetworkManagerBackend({
    ...common,
    format: parts.kind,
    readLinks: parts.readLinks,
    onRestart: (reason) => {
      parts.metrics.networkManagerRestarts.inc();
      parts.logger.warn({ reason }, 'restarting NetworkManager (last resort)');
    },
  });
}

/** Parts a test may replace: the process runner and how live links are read (a stateful fake network). */
export interface AgentOverrides {
  runner?: CommandRunner;
  readLinks?: () => Promise<LiveLink[]>;
  sleep?: (ms: number) => Promise<void>;
}

/** Wires the agent by hand: host root, command runner, backend, store, and the cycle's dependencies. */
export async function buildAgent(
  config: Config,
  logger: Logger,
  overrides: AgentOverrides = {},
): Promise<Agent> {
  const fs = createHostFs(config.hostRoot);
  const osType = await detectBackend(config, fs);
  const metrics = createMetrics({ version: VERSION, osType, nodeName: config.nodeName });
  const telemetry = new Telemetry({
    metrics,
    now: Date.now,
    nodeName: config.nodeName,
    osType,
    version: VERSION,
    stuckAfterMs: stuckAfterMs(config),
  });
  const sleep = overrides.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const runner =
    overrides.runner ??
    createRunner({ prefix: config.commandPrefix, defaultTimeoutMs: config.commandTimeoutMs });
  const liveLinks = overrides.readLinks ?? (() => readLinks({ sysClassNet: config.sysClassNet }));
  const backend = createBackend({
    kind: osType,
    config,
    fs,
    runner,
    readLinks: liveLinks,
    sleep,
    metrics,
    logger,
  });
  const store = instrumentStore(await createStore(config.db), metrics, Date.now);
  const deps: CycleDeps = {
    nodeName: config.nodeName,
    store,
    backend,
    fs,
    addresses: createAddressTool(runner),
    readLinks: liveLinks,
    protectedNames: (links) => protectedNames(config, links),
    backup: (files) => createBackup(fs, files, stamp(new Date()), config.backupKeep),
    pingStore: () => store.ping(),
    sleep,
    applyMode: config.applyMode,
    now: () => Date.now(),
    timeoutMs: config.verifyTimeoutMs,
    intervalMs: 250,
    logger,
    onPlan: (decided) => telemetry.planned(decided),
    maxRetryWaitCycles: Math.floor(config.failedRetryMaxMs / config.pollIntervalMs),
    // The fleet table lives beside the controller's on MySQL; the embedded store serves one node.
    rollout:
      config.db.kind === 'mysql'
        ? {
            fleet: createFleetStore(config.db),
            budget: config.rollout.budget,
            leaseMs: config.rollout.leaseMs,
            heartbeatMs: config.fleetHeartbeatMs,
            version: VERSION,
          }
        : undefined,
  };
  return {
    deps,
    telemetry,
    metrics,
    fs,
    runner,
    async close() {
      await runner.close();
      await store.close();
    },
  };
}

/**
 * The store DB_URL or DB_HOST selected. The embedded store is loaded only when chosen: its native module
 * (better-sqlite3) is a development dependency, absent from the production image.
 */
export async function createStore(db: Config['db']): Promise<DesiredStore> {
  if (db.kind === 'mysql') return createMysqlStore(db);
  const sqlite = await import('./store/sqlite.js').catch((err: unknown) => {
    throw new AgentError(
      'config',
      `DB_URL=sqlite: needs the better-sqlite3 package (npm ci in a checkout): ${String(err)}`,
    );
  });
  return sqlite.createSqliteStore(db.path, {
    filterDeleted: db.filterDeleted,
    busyTimeoutMs: db.queryTimeoutMs,
  });
}

/**
 * Liveness bound: the longest a healthy loop can go without finishing a cycle (the longest backoff, plus an
 * apply and a rollback apply with their verifications, plus the database timeouts), with a minute to spare.
 */
function stuckAfterMs(config: Config): number {
  const cycle = 2 * (config.applyTimeoutMs + config.verifyTimeoutMs) + 3 * config.db.queryTimeoutMs;
  return Math.round(Math.max(config.pollIntervalMs, config.maxBackoffMs) * 1.1) + cycle + 60_000;
}

/** SPEC §3: the default-route interface and the one holding the node's primary address. */
async function protectedNames(config: Config, links: readonly LiveLink[]): Promise<string[]> {
  const names = await readDefaultRouteInterfaces(config.procNetRoute);
  if (config.nodeIp !== null) {
    for (const link of links) if (link.ipv4.some((a) => a.ip === config.nodeIp)) names.push(link.name);
  }
  return names;
}

export async function readPasswordFile(path: string): Promise<string> {
  return readFile(path, 'utf8');
}
