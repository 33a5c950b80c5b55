/**
 * One sandboxed node for the daemon figures: test/sandbox's namespaces with 10 veth NICs, real netplan +
 * systemd-networkd, its own MariaDB, and the daemon started the way production starts it (COMMAND_PREFIX
 * through nsenter), with a given node binary, flags and entry point.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RowDataPacket } from 'mysql2/promise';
import { sandboxSupport } from '../../src/demo/sandbox-support.js';
import { agentEnv, followLogs, type LogLine } from '../../test/sandbox/agent.js';
import { startSandboxDatabase, type SandboxDatabase } from '../../test/sandbox/mariadb.js';
import { startSandbox, type Sandbox, type SandboxProcess } from '../../test/sandbox/sandbox.js';

const NSENTER_PREFIX = 'nsenter -t 1 -m -u -i -n -p --';
export const range = (n: number) => Array.from({ length: n }, (_, i) => i);
export const mac = (n: number) => `fa:16:3e:00:00:${n.toString(16).padStart(2, '0')}`;

/** Why the sandbox figures cannot run here (the check the demo and the tests use), or null. */
export function sandboxUnsupported(cli: string): string | null {
  const support = sandboxSupport();
  if (!support.ok) return support.reason ?? 'no sandbox';
  try {
    accessSync('/usr/sbin/mariadbd', constants.X_OK);
  } catch {
    return '/usr/sbin/mariadbd missing';
  }
  if (!existsSync(cli)) return `${cli} absent: run npm run build`;
  return null;
}

export async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** All ten rows verified: netplan_success = 1 is written only after verification. */
export async function verified(db: SandboxDatabase): Promise<true | undefined> {
  const [rows] = await db.admin.query<RowDataPacket[]>(
    'SELECT COUNT(*) AS n FROM multi_interface WHERE netplan_success = 1',
  );
  return Number(rows[0]?.['n']) === 10 ? true : undefined;
}

/** The 10 ports' rows, in one INSERT (one batch, as the controller attaching 10 ports at once). */
export async function insertRows(db: SandboxDatabase): Promise<void> {
  const values = range(10).map((n) => [
    randomUUID(),
    randomUUID(),
    mac(n),
    'worker-1',
    0,
    `10.0.${n}.10`,
    `10.0.${n}.0/24`,
    1500,
  ]);
  await db.admin.query(
    'INSERT INTO multi_interface (port_id, subnet_id, macaddress, attached_node_name, netplan_success,' +
      ' address, cidr, mtu) VALUES ?',
    [values],
  );
}

/** The daemon's /metrics text (the health port is inside the sandbox, so a node inside fetches it). */
export async function scrape(sb: Sandbox): Promise<string> {
  const script = "fetch('http://127.0.0.1:8080/metrics').then((r) => r.text()).then((t) => console.log(t))";
  const { stdout } = await sb.execOk([process.execPath, '-e', script]);
  return stdout;
}

/** A sample's value from the metrics text: `name` exactly, without labels; NaN when absent. */
export function metricValue(text: string, name: string): number {
  const match = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text);
  return match === null ? NaN : Number(match[1]);
}

/** Cycles the daemon has run, from its own metrics. */
export async function cyclesRun(sb: Sandbox): Promise<number> {
  return metricValue(await scrape(sb), 'multinic_polling_cycles_total');
}

export interface SandboxNode {
  sb: Sandbox;
  db: SandboxDatabase;
  /** Starts the daemon (`argv` + `run`) and waits for its `agent started` line. */
  start: () => Promise<Daemon>;
}

export interface Daemon {
  proc: SandboxProcess;
  logs: LogLine[];
  /** Wall-clock ms (performance.now() of this process) when it was spawned. */
  spawnedAt: number;
  stop: () => Promise<void>;
}

export interface NodeOptions {
  /** The node binary, its flags and the entry point; `run` is appended. */
  argv: string[];
  pollMs: number;
  env?: Record<string, string>;
}

/** A sandbox with 10 NICs and its MariaDB; the daemon is started by `node.start()`; all torn down after `body`. */
export async function withNode<T>(options: NodeOptions, body: (node: SandboxNode) => Promise<T>): Promise<T> {
  const sb: Sandbox = await startSandbox({
    nics: range(10).map((n) => ({ name: `ens${n + 3}`, mac: mac(n) })),
  });
  let db: SandboxDatabase | undefined;
  const running = new Set<Daemon>();
  try {
    db = await startSandboxDatabase(sb);
    const env = agentEnv(db.agentEnv, {
      POLL_INTERVAL: `${options.pollMs}ms`,
      LOG_LEVEL: 'info',
      COMMAND_PREFIX: NSENTER_PREFIX,
      ...options.env,
    });
    const start = async (): Promise<Daemon> => {
      const spawnedAt = performance.now();
      const proc = sb.spawn([...options.argv, 'run'], { env, stdin: 'ignore' });
      const logs = followLogs(proc);
      const daemon: Daemon = {
        proc,
        logs,
        spawnedAt,
        stop: async () => {
          running.delete(daemon);
          if (proc.child.exitCode !== null) return;
          await proc.signal('SIGTERM').catch(() => undefined);
          await Promise.race([proc.done.catch(() => undefined), sleep(30_000)]);
        },
      };
      running.add(daemon);
      await until('agent started', 20_000, () => logs.find((l) => l.msg === 'agent started'));
      return daemon;
    };
    return await body({ sb, db, start });
  } finally {
    for (const daemon of running) await daemon.stop();
    await db?.stop();
    await sb.stop();
  }
}
