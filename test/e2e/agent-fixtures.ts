/**
 * Fixtures of the agent's end-to-end scenarios: a sandbox with NICs and its own MariaDB, the n-th
 * OpenStack port (NIC and row), and read-backs of what the agent left on the sandbox (files, calls).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll } from 'vitest';
import type { RawRow } from '../support/mariadb.js';
import { agentCli } from '../sandbox/agent.js';
import type { LogLine } from '../sandbox/agent.js';
import { startSandboxDatabase, type SandboxDatabase } from '../sandbox/mariadb.js';
import { startRestartableDatabase } from '../sandbox/restartable-mariadb.js';
import { startSandbox, type Nic, type Sandbox, type SandboxOptions } from '../sandbox/sandbox.js';

/** Bound of every wait for an outcome (networkd configures links asynchronously). */
export const eventually = { timeout: 15_000, interval: 100 };

/** The production default of COMMAND_PREFIX: inside a sandbox it enters the sandbox's own PID 1. */
export const NSENTER_PREFIX = 'nsenter -t 1 -m -u -i -n -p --';

/** MAC of the n-th port (OpenStack's fa:16:3e prefix). */
export function mac(n: number): string {
  return `fa:16:3e:00:00:${n.toString(16).padStart(2, '0')}`;
}

/** The n-th port as the VM sees it before the agent: a veth `ens<n+3>`, not renamed, no address. */
export function nic(n: number): Nic {
  return { name: `ens${n + 3}`, mac: mac(n) };
}

/** The n-th port's row: 10.0.<n>.10/24, MTU 1500, unless overridden. */
export function row(n: number, overrides: Partial<RawRow> = {}): Partial<RawRow> {
  return { macaddress: mac(n), address: `10.0.${n}.10`, cidr: `10.0.${n}.0/24`, mtu: 1500, ...overrides };
}

/** Port 2 as ens5, a macvlan on a 1500-byte lower link: the kernel refuses it any larger MTU. */
export async function plugRefusingNic(sb: Sandbox): Promise<void> {
  await sb.execOk(['ip', 'link', 'add', 'low5', 'type', 'veth', 'peer', 'name', 'p-low5']);
  await sb.execOk(['ip', 'link', 'set', 'p-low5', 'up']);
  await sb.execOk(['ip', 'link', 'set', 'low5', 'up']);
  await sb.execOk(['ip', 'link', 'add', 'ens5', 'link', 'low5', 'address', mac(2), 'type', 'macvlan']);
}

/**
 * The node of a describe block's tests: the agent is compiled once before them (so no scenario's timing
 * includes it), and the sandbox and database of each test are stopped after it (with a daemon still running).
 */
export function useNode(): Node {
  const node = new Node();
  beforeAll(async () => {
    await agentCli();
  }, 120_000);
  afterEach(async () => {
    await node.stop();
  });
  return node;
}

/** The sandbox and database of the running test; stop() tears down whatever was started. */
export class Node {
  sb: Sandbox | undefined;
  db: { stop(): Promise<void> } | undefined;

  /** A sandbox with `nics` (and the other sandbox options) and its own database. */
  async start(nics: Nic[], options: Omit<SandboxOptions, 'nics'> = {}) {
    return this.startWith(nics, options, startSandboxDatabase);
  }

  /** The same, with a database the test can stop and start (an outage). */
  async startRestartable(nics: Nic[], options: Omit<SandboxOptions, 'nics'> = {}) {
    return this.startWith(nics, options, startRestartableDatabase);
  }

  async stop(): Promise<void> {
    try {
      await this.db?.stop();
    } finally {
      await this.sb?.stop(); // kills the daemons still running with the rest of the sandbox
      this.sb = undefined;
      this.db = undefined;
    }
  }

  private async startWith<D extends { stop(): Promise<void> }>(
    nics: Nic[],
    options: Omit<SandboxOptions, 'nics'>,
    startDatabase: (sb: Sandbox) => Promise<D>,
  ): Promise<{ sb: Sandbox; db: D }> {
    const sb = await startSandbox({ ...options, nics });
    this.sb = sb;
    const db = await startDatabase(sb);
    this.db = db;
    return { sb, db };
  }
}

/** Inserts the rows in order and returns their ids. */
export async function insertRows(db: SandboxDatabase, rows: Partial<RawRow>[]): Promise<number[]> {
  const ids: number[] = [];
  for (const r of rows) ids.push(await db.insertRow(r));
  return ids;
}

export interface FileState {
  content: string;
  /** A rewrite (temp file + rename) makes a new inode, whatever the clock's resolution. */
  ino: number;
  mtimeMs: number;
  mode: number;
}

/** Every file in the sandbox's /etc/netplan, by name. */
export function netplanFiles(sb: Sandbox): Map<string, FileState> {
  const dir = join(sb.hostRoot, 'etc', 'netplan');
  const files = new Map<string, FileState>();
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const info = statSync(path);
    files.set(name, {
      content: info.isFile() ? readFileSync(path, 'utf8') : '',
      ino: info.ino,
      mtimeMs: info.mtimeMs,
      mode: info.mode & 0o777,
    });
  }
  return files;
}

/** Paths (relative to the host root) of every leftover temporary file of an interrupted write. */
export function tempFiles(sb: Sandbox): string[] {
  const found: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const relPath = join(rel, entry.name);
      if (entry.isDirectory()) walk(join(dir, entry.name), relPath);
      else if (entry.name.endsWith('.multinic-tmp')) found.push(relPath);
    }
  };
  walk(sb.hostRoot, '');
  return found;
}

/** One call made through a tracer or a stand-in: `netplan apply [parent: node]`. */
export interface Call {
  command: string;
  args: string;
  /** The process that made it (only for the tracers): `node` for the agent, `nsenter` behind the prefix. */
  parent: string | null;
}

export async function calls(sb: Sandbox): Promise<Call[]> {
  return (await sb.calls()).map((line) => {
    const match = /^(\S+) ?(.*?)(?: \[parent: (.*)\])?$/.exec(line);
    return { command: match?.[1] ?? line, args: match?.[2] ?? '', parent: match?.[3] ?? null };
  });
}

/** Calls the agent itself made (not netplan's own `ip link set …`): its parent is node or nsenter. */
export function agentCalls(all: readonly Call[], command: 'netplan' | 'ip', args?: RegExp): Call[] {
  return withoutWatch(all).filter(
    (call) =>
      call.command === command &&
      (call.parent === 'node' || call.parent === 'nsenter') &&
      (args === undefined || args.test(call.args)),
  );
}

/**
 * The calls without the daemon's one `ip -o monitor link`, the hot-plug watch it starts with itself:
 * it reads the kernel's link events for the daemon's life and changes nothing.
 */
export function withoutWatch(all: readonly Call[]): Call[] {
  return all.filter((call) => !(call.command === 'ip' && call.args === '-o monitor link'));
}

/** systemd-networkd (re)starts, as the systemctl stand-in logged them: one per `netplan apply`. */
export function networkdRestarts(all: readonly Call[]): number {
  return all.filter(
    (call) => call.command === 'systemctl' && /^(re)?start .*systemd-networkd/.test(call.args),
  ).length;
}

/** The agent's log lines with this message, for this row id (when given). */
export function linesOf(logs: readonly LogLine[], msg: string, interfaceId?: number): LogLine[] {
  return logs.filter(
    (line) => line.msg === msg && (interfaceId === undefined || line.interface_id === interfaceId),
  );
}
