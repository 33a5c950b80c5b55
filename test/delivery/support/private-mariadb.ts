/**
 * A throwaway MariaDB server with real grant tables (mariadb-install-db on a temporary datadir, then
 * mariadbd on a free loopback port), for tests that must see privileges enforced: the shared test server
 * may run with --skip-grant-tables. Every statement is kept in mysql.general_log so a test can read back
 * exactly what a client sent. Starts in a few seconds; stop() kills it and removes its files.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import type { Connection } from 'mysql2/promise';

export const INSTALL_DB = '/usr/bin/mariadb-install-db';
export const MARIADBD = '/usr/sbin/mariadbd';

export interface PrivateMariadb {
  host: string;
  port: number;
  /** A new root connection (empty password) with multipleStatements. */
  admin(database?: string): Promise<Connection>;
  stop(): Promise<void>;
}

export async function startPrivateMariadb(): Promise<PrivateMariadb> {
  const dir = mkdtempSync(join(tmpdir(), 'multinic-mariadb-'));
  const datadir = join(dir, 'data');
  try {
    installSystemTables(datadir, dir);
    const port = await freePort();
    const server = spawn(MARIADBD, serverArgs(datadir, dir, port), { stdio: 'ignore' });
    const admin = (database?: string) =>
      createConnection({
        host: '127.0.0.1',
        port,
        user: 'root',
        password: '',
        database,
        multipleStatements: true,
      });
    await waitUntilUp(admin, server, dir);
    return { host: '127.0.0.1', port, admin, stop: () => stop(server, dir) };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function installSystemTables(datadir: string, dir: string): void {
  const run = spawnSync(
    INSTALL_DB,
    [
      '--no-defaults',
      `--datadir=${datadir}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      '--innodb-log-file-size=8M',
      ...rootUser(),
    ],
    { encoding: 'utf8', timeout: 60_000, cwd: dir },
  );
  if (run.status !== 0) throw new Error(`mariadb-install-db failed: ${run.stdout}${run.stderr}`);
}

function serverArgs(datadir: string, dir: string, port: number): string[] {
  return [
    '--no-defaults',
    `--datadir=${datadir}`,
    `--socket=${join(dir, 'sock')}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--pid-file=${join(dir, 'mariadbd.pid')}`,
    `--log-error=${join(dir, 'error.log')}`,
    '--skip-log-bin',
    '--innodb-buffer-pool-size=32M',
    '--log-output=TABLE',
    '--general-log=1',
    ...rootUser(),
  ];
}

// mariadbd refuses to run as root unless told to.
function rootUser(): string[] {
  return process.getuid?.() === 0 ? ['--user=root'] : [];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

async function waitUntilUp(
  admin: () => Promise<Connection>,
  server: ChildProcess,
  dir: string,
): Promise<void> {
  const until = Date.now() + 20_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`mariadbd exited: ${errorLog(dir)}`);
    try {
      const conn = await admin();
      await conn.end();
      return;
    } catch (err) {
      if (Date.now() > until) {
        server.kill('SIGKILL');
        throw new Error(`mariadbd did not accept connections within 20 s: ${String(err)}\n${errorLog(dir)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

function errorLog(dir: string): string {
  try {
    return readFileSync(join(dir, 'error.log'), 'utf8').slice(-2000);
  } catch {
    return '(no error log)';
  }
}

async function stop(server: ChildProcess, dir: string): Promise<void> {
  if (server.exitCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    const timer = setTimeout(() => server.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(dir, { recursive: true, force: true });
}
