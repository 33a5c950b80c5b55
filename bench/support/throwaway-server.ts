/**
 * A throw-away MariaDB server of the bench's own (temp datadir, free port on 127.0.0.1, grant tables so
 * agents log in as a least-privilege user with a password, as in production). Stopped with SIGTERM.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { createConnection, type Connection } from 'mysql2/promise';
import { processCpuMs, processRss } from './proc.js';

export interface ThrowawayServer {
  pid: number;
  port: number;
  socketPath: string;
  /** Root over the Unix socket, multipleStatements, no database selected. */
  admin: Connection;
  /** utime + stime of mariadbd so far, in milliseconds (from /proc/<pid>/stat). */
  cpuMs(): Promise<number>;
  /** Resident memory of mariadbd (VmRSS), in bytes. */
  rssBytes(): Promise<number>;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 30_000;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Starts mariadbd with the given extra options (e.g. `--max-connections=6000`). */
export async function startThrowawayServer(extra: readonly string[]): Promise<ThrowawayServer> {
  const dir = await mkdtemp(join(tmpdir(), 'multinic-bench-db-'));
  const datadir = join(dir, 'data');
  await promisify(execFile)('mariadb-install-db', [
    '--no-defaults',
    `--datadir=${datadir}`,
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
    '--user=root',
  ]);
  const port = await freePort();
  const socketPath = join(dir, 'sock');
  // setpriv execs mariadbd (same pid) with a parent-death signal: if the bench is killed, so is the server.
  const child = spawn(
    'setpriv',
    [
      '--pdeathsig',
      'KILL',
      'mariadbd',
      '--no-defaults',
      `--datadir=${datadir}`,
      `--socket=${socketPath}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      '--user=root',
      '--skip-log-bin',
      '--skip-name-resolve',
      `--log-error=${join(dir, 'error.log')}`,
      ...extra,
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const admin = await connectWhenReady(socketPath, child, dir);
    admin.on('error', () => undefined);
    const pid = child.pid ?? 0;
    return {
      pid,
      port,
      socketPath,
      admin,
      cpuMs: () => processCpuMs(pid),
      rssBytes: () => processRss(pid),
      stop: async () => {
        await admin.end().catch(() => undefined);
        await stopProcess(child, exited);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await stopProcess(child, exited);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function connectWhenReady(socketPath: string, child: ChildProcess, dir: string): Promise<Connection> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    try {
      return await createConnection({ socketPath, user: 'root', multipleStatements: true });
    } catch (error) {
      if (child.exitCode !== null || Date.now() > deadline) {
        const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
        throw new Error(`throw-away mariadbd did not start: ${String(error)}\n${log.slice(-2000)}`);
      }
      await sleep(50);
    }
  }
}

async function stopProcess(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const killed = await Promise.race([exited.then(() => true), sleep(20_000).then(() => false)]);
  if (!killed) {
    child.kill('SIGKILL');
    await exited;
  }
}
