import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { parseBudget, type Budget } from './core/rollout.js';
import type { StoreSettings } from './store/mysql.js';

/**
 * Where the desired state lives: the controller's MySQL/MariaDB (DB_HOST, ...), or the embedded SQLite
 * store (DB_URL=sqlite:PATH). Always explicit: with neither the agent refuses to start.
 */
export type DbSettings = ({ kind: 'mysql' } & StoreSettings) | SqliteSettings;

export interface SqliteSettings {
  kind: 'sqlite';
  /** Absolute path of the database file (a relative DB_URL path is resolved against the working directory). */
  path: string;
  filterDeleted: boolean;
  /** How long a statement waits for a lock held by another process. */
  queryTimeoutMs: number;
}

export interface Config {
  db: DbSettings;
  nodeName: string;
  pollIntervalMs: number;
  maxBackoffMs: number;
  /** The longest a change that failed waits before it is tried again unchanged (core/retry.ts). */
  failedRetryMaxMs: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  healthPort: number;
  healthBind: string;
  hostRoot: string;
  commandPrefix: string[];
  sysClassNet: string;
  procNetRoute: string;
  /** `auto` reads the host's /etc/os-release; the others force a backend. */
  osType: 'auto' | 'netplan' | 'ifcfg' | 'keyfile';
  /**
   * `apply`: apply, verify, roll back. `try`: netplan try, confirmed only after verification (netplan
   * only: NetworkManager's checkpoints are not reachable with nmcli, so try with it is refused at start).
   */
  applyMode: 'apply' | 'try';
  applyTimeoutMs: number;
  verifyTimeoutMs: number;
  commandTimeoutMs: number;
  backupKeep: number;
  /** The node's primary address (e.g. status.hostIP): the interface holding it is never touched. */
  nodeIp: string | null;
  /** ADOPT_UNMANAGED: take over files the original Go agent left at the agent's paths (SPEC §5). */
  adoptUnmanaged: boolean;
  /** LINK_WATCH: a NIC plugged in or out wakes the loop at once (host/link-watch.ts). */
  linkWatch: boolean;
  /** ROLLOUT_MAX_UNAVAILABLE and the slot's lease (SPEC §10); off with the embedded store. */
  rollout: { budget: Budget; leaseMs: number };
  /** The longest the node's fleet status row goes unwritten while nothing in it changes. */
  fleetHeartbeatMs: number;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "30s", "500ms", "2m", "1h"; a bare number is seconds. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+)(ms|s|m|h)?$/.exec(text.trim());
  if (match === null) return null;
  return Number(match[1]) * (UNITS[match[2] ?? 's'] ?? 1000);
}

function duration(name: string, fallback: string, min: number, max: number) {
  return z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === null || ms < min || ms > max) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} must be a duration like 30s between ${min}ms and ${max}ms, got "${text}"`,
        });
        return z.NEVER;
      }
      return ms;
    });
}

function integer(name: string, fallback: string, min: number, max: number) {
  return z
    .string()
    .default(fallback)
    .refine((text) => /^\d+$/.test(text) && Number(text) >= min && Number(text) <= max, {
      message: `${name} must be an integer from ${min} to ${max}`,
    })
    .transform(Number);
}

function flag(name: string, fallback: 'true' | 'false') {
  return z
    .enum(['true', 'false', '1', '0'], { error: `${name} must be true or false` })
    .default(fallback)
    .transform((text) => text === 'true' || text === '1');
}

const required = (name: string) =>
  z.string({ error: `${name} is required` }).min(1, `${name} must not be empty`);
const absolute = (name: string, fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((p) => p.startsWith('/'), `${name} must be an absolute path`);

// The MySQL settings: required unless DB_URL selects the embedded store.
const mysqlSchema = z.object({
  DB_HOST: required('DB_HOST'),
  DB_PORT: integer('DB_PORT', '3306', 1, 65535),
  DB_USER: required('DB_USER'),
  DB_PASSWORD: z.string().optional(),
  DB_PASSWORD_FILE: z.string().optional(),
  DB_NAME: required('DB_NAME'),
  DB_CONNECT_TIMEOUT: duration('DB_CONNECT_TIMEOUT', '5s', 100, 120_000),
  DB_KEEP_CONNECTION: flag('DB_KEEP_CONNECTION', 'false'),
});

const MYSQL_NAMES = Object.keys(mysqlSchema.shape);

const commonSchema = z.object({
  DB_QUERY_TIMEOUT: duration('DB_QUERY_TIMEOUT', '10s', 100, 120_000),
  DB_FILTER_DELETED: flag('DB_FILTER_DELETED', 'true'),
  NODE_NAME: z.string().optional(),
  NODE_IP: z
    .string()
    .regex(/^\d{1,3}(\.\d{1,3}){3}$/, 'NODE_IP must be an IPv4 address')
    .optional(),
  POLL_INTERVAL: duration('POLL_INTERVAL', '30s', 1000, 86_400_000),
  MAX_BACKOFF: duration('MAX_BACKOFF', '5m', 1000, 86_400_000),
  FAILED_RETRY_MAX: duration('FAILED_RETRY_MAX', '1h', 0, 604_800_000),
  ADOPT_UNMANAGED: flag('ADOPT_UNMANAGED', 'true'),
  LINK_WATCH: flag('LINK_WATCH', 'true'),
  ROLLOUT_MAX_UNAVAILABLE: z
    .string()
    .optional()
    .refine((text) => text === undefined || parseBudget(text) !== null, {
      message: 'ROLLOUT_MAX_UNAVAILABLE must be off, a number of nodes (1 or more) or a percentage 1%–100%',
    }),
  ROLLOUT_LEASE: z
    .string()
    .optional()
    .refine((text) => text === undefined || inRange(parseDuration(text), 5_000, 3_600_000), {
      message: 'ROLLOUT_LEASE must be a duration like 5m between 5s and 1h',
    }),
  FLEET_HEARTBEAT: duration('FLEET_HEARTBEAT', '10m', 10_000, 86_400_000),
  LOG_LEVEL: z
    .enum(['debug', 'info', 'warn', 'error'], { error: 'LOG_LEVEL must be debug, info, warn or error' })
    .default('info'),
  HEALTH_PORT: integer('HEALTH_PORT', '8080', 0, 65535),
  HEALTH_BIND: z.string().default('0.0.0.0'),
  HOST_ROOT: absolute('HOST_ROOT', '/host'),
  COMMAND_PREFIX: z.string().default('nsenter -t 1 -m -u -i -n -p --'),
  SYS_CLASS_NET: absolute('SYS_CLASS_NET', '/sys/class/net'),
  PROC_NET_ROUTE: absolute('PROC_NET_ROUTE', '/proc/net/route'),
  OS_TYPE: z
    .enum(['auto', 'netplan', 'ifcfg', 'keyfile'], {
      error: 'OS_TYPE must be auto, netplan, ifcfg or keyfile',
    })
    .default('auto'),
  APPLY_MODE: z.enum(['apply', 'try'], { error: 'APPLY_MODE must be apply or try' }).default('apply'),
  APPLY_TIMEOUT: duration('APPLY_TIMEOUT', '120s', 1000, 600_000),
  VERIFY_TIMEOUT: duration('VERIFY_TIMEOUT', '20s', 100, 600_000),
  COMMAND_TIMEOUT: duration('COMMAND_TIMEOUT', '30s', 100, 600_000),
  BACKUP_KEEP: integer('BACKUP_KEEP', '20', 1, 1000),
});

const envSchema = commonSchema.extend(mysqlSchema.shape);

export type ConfigResult = { ok: true; config: Config } | { ok: false; errors: string[] };

export interface ConfigSources {
  env: Record<string, string | undefined>;
  readFile(path: string): string;
  hostname(): string;
}

/** Reads and validates every setting at once; every problem is listed, nothing falls back silently. */
export function loadConfig(sources: ConfigSources): ConfigResult {
  const url = sources.env['DB_URL'];
  // No database setting at all is one problem, said once (mysqlSettings), not once per missing DB_*.
  const mysql = url !== undefined || MYSQL_NAMES.some((name) => sources.env[name] !== undefined);
  const parsed = (url === undefined && mysql ? envSchema : commonSchema).safeParse(sources.env);
  const errors = parsed.success ? [] : parsed.error.issues.map((issue) => issue.message);
  const db = url === undefined ? mysqlSettings(sources, errors) : sqliteSettings(url, sources.env, errors);
  // Checked on its own, so that it is listed with the other problems rather than after they are fixed.
  const modes = envSchema.pick({ OS_TYPE: true, APPLY_MODE: true }).safeParse(sources.env);
  const trialProblem = modes.success ? trialUnsupported(modes.data.OS_TYPE, modes.data.APPLY_MODE) : null;
  if (trialProblem !== null) errors.push(trialProblem);
  const rolloutProblem = rolloutUnsupported(
    url === undefined ? 'mysql' : 'sqlite',
    sources.env['ROLLOUT_MAX_UNAVAILABLE'],
  );
  if (rolloutProblem !== null) errors.push(rolloutProblem);
  if (!parsed.success || db === null || trialProblem !== null || rolloutProblem !== null)
    return { ok: false, errors };
  const env = parsed.data;
  const nodeName = env.NODE_NAME ?? sources.hostname();
  if (nodeName.trim() === '')
    return { ok: false, errors: ['NODE_NAME is empty and the host name is unknown'] };
  const config: Config = {
    db: { ...db, queryTimeoutMs: env.DB_QUERY_TIMEOUT, filterDeleted: env.DB_FILTER_DELETED },
    nodeName,
    pollIntervalMs: env.POLL_INTERVAL,
    maxBackoffMs: env.MAX_BACKOFF,
    failedRetryMaxMs: env.FAILED_RETRY_MAX,
    logLevel: env.LOG_LEVEL,
    healthPort: env.HEALTH_PORT,
    healthBind: env.HEALTH_BIND,
    hostRoot: env.HOST_ROOT,
    commandPrefix: env.COMMAND_PREFIX.split(/\s+/).filter((part) => part !== ''),
    sysClassNet: env.SYS_CLASS_NET,
    procNetRoute: env.PROC_NET_ROUTE,
    osType: env.OS_TYPE,
    applyMode: env.APPLY_MODE,
    applyTimeoutMs: env.APPLY_TIMEOUT,
    verifyTimeoutMs: env.VERIFY_TIMEOUT,
    commandTimeoutMs: env.COMMAND_TIMEOUT,
    backupKeep: env.BACKUP_KEEP,
    nodeIp: env.NODE_IP ?? null,
    adoptUnmanaged: env.ADOPT_UNMANAGED,
    linkWatch: env.LINK_WATCH,
    rollout: rolloutOf(env, db.kind),
    fleetHeartbeatMs: env.FLEET_HEARTBEAT,
  };
  return { ok: true, config };
}

// What the DB_* settings of one kind give; DB_QUERY_TIMEOUT and DB_FILTER_DELETED apply to both.
type SharedDb = 'queryTimeoutMs' | 'filterDeleted';
type DbChoice = ({ kind: 'mysql' } & Omit<StoreSettings, SharedDb>) | Omit<SqliteSettings, SharedDb>;

/** MySQL from DB_HOST, DB_USER, DB_NAME and a password; null (with errors listed) when incomplete. */
function mysqlSettings(sources: ConfigSources, errors: string[]): DbChoice | null {
  if (MYSQL_NAMES.every((name) => sources.env[name] === undefined)) {
    errors.push(
      'no database configured: set DB_HOST, DB_USER, DB_NAME and DB_PASSWORD (MySQL/MariaDB) or ' +
        'DB_URL=sqlite:PATH (embedded store); the agent never runs without one, as an empty desired ' +
        'state would remove every interface',
    );
    return null;
  }
  const password = readPassword(sources, errors);
  const parsed = mysqlSchema.safeParse(sources.env);
  if (!parsed.success || password === null) return null;
  const env = parsed.data;
  return {
    kind: 'mysql',
    host: env.DB_HOST,
    port: env.DB_PORT,
    user: env.DB_USER,
    password,
    database: env.DB_NAME,
    connectTimeoutMs: env.DB_CONNECT_TIMEOUT,
    keepConnection: env.DB_KEEP_CONNECTION,
  };
}

/** DB_URL=sqlite:PATH, alone: a MySQL setting next to it is a mistake worth stopping for. */
function sqliteSettings(
  url: string,
  env: Record<string, string | undefined>,
  errors: string[],
): DbChoice | null {
  const both = MYSQL_NAMES.filter((name) => env[name] !== undefined);
  if (both.length > 0)
    errors.push(`set either DB_URL or the MySQL settings, not both (also set: ${both.join(', ')})`);
  const match = /^sqlite:(.+)$/.exec(url);
  const path = match?.[1];
  if (path === undefined || path.startsWith('//')) {
    errors.push(
      `DB_URL must be sqlite:PATH, e.g. sqlite:./multinic.db or sqlite:/var/lib/multinic.db, got "${url}"`,
    );
    return null;
  }
  if (both.length > 0) return null;
  return { kind: 'sqlite', path: isAbsolute(path) ? path : resolve(path) };
}

/**
 * APPLY_MODE=try is netplan's trial (netplan try). NetworkManager's equivalent, a checkpoint, is a D-Bus
 * call nmcli does not offer; rather than pretend, the agent refuses to start. With OS_TYPE=auto the same
 * check runs once the host's OS is known.
 */
/** 10% by default on MySQL; the embedded store serves one node, so there the budget is off. */
const DEFAULT_BUDGET = '10%';

function rolloutOf(
  env: {
    ROLLOUT_MAX_UNAVAILABLE?: string | undefined;
    ROLLOUT_LEASE?: string | undefined;
    APPLY_TIMEOUT: number;
    VERIFY_TIMEOUT: number;
  },
  store: DbSettings['kind'],
): Config['rollout'] {
  const text = env.ROLLOUT_MAX_UNAVAILABLE ?? (store === 'sqlite' ? 'off' : DEFAULT_BUDGET);
  const budget = parseBudget(text) ?? { kind: 'off' };
  // Long enough for an apply, its verification, and a rollback with its own apply and verification.
  const leaseMs =
    env.ROLLOUT_LEASE === undefined
      ? 2 * (env.APPLY_TIMEOUT + env.VERIFY_TIMEOUT) + 60_000
      : (parseDuration(env.ROLLOUT_LEASE) ?? 0);
  return { budget, leaseMs };
}

function inRange(ms: number | null, min: number, max: number): boolean {
  return ms !== null && ms >= min && ms <= max;
}

/** The budget coordinates nodes through MySQL/MariaDB: with the embedded store it is refused. */
export function rolloutUnsupported(store: DbSettings['kind'], setting: string | undefined): string | null {
  if (store !== 'sqlite' || setting === undefined || parseBudget(setting)?.kind === 'off') return null;
  return 'ROLLOUT_MAX_UNAVAILABLE needs MySQL/MariaDB: the embedded store (DB_URL=sqlite:…) serves one node; leave it unset or set it to off';
}

export function trialUnsupported(osType: Config['osType'], applyMode: Config['applyMode']): string | null {
  if (applyMode !== 'try' || osType === 'auto' || osType === 'netplan') return null;
  return `APPLY_MODE=try needs netplan; the ${osType} backend (NetworkManager) supports only APPLY_MODE=apply`;
}

/** DB_PASSWORD or DB_PASSWORD_FILE (a mounted Secret), exactly one; an empty password must be explicit. */
function readPassword(sources: ConfigSources, errors: string[]): string | null {
  const { DB_PASSWORD: inline, DB_PASSWORD_FILE: file } = sources.env;
  if (inline !== undefined && file !== undefined) {
    errors.push('set only one of DB_PASSWORD and DB_PASSWORD_FILE');
    return null;
  }
  if (file !== undefined) {
    try {
      return sources.readFile(file).replace(/\r?\n$/, '');
    } catch {
      errors.push(`DB_PASSWORD_FILE ${file} cannot be read`);
      return null;
    }
  }
  if (inline === undefined) {
    errors.push('DB_PASSWORD or DB_PASSWORD_FILE is required (DB_PASSWORD= for an empty password)');
    return null;
  }
  return inline;
}
