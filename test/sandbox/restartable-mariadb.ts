/**
 * A MariaDB inside a sandbox that a test can stop and start again on the same data: database outages
 * seen by an agent running in the same sandbox. mariadb.ts has the simpler always-up server.
 *
 * The agent reaches the server over TCP on the sandbox's 127.0.0.1:3306; the test reaches it through a
 * Unix socket in the sandbox's directory (a file, so it works across network namespaces). Started with
 * `network: false`, the server listens on that socket only: the test can change rows while, for the
 * agent, the database is still down.
 */
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createConnection, type Connection, type ResultSetHeader, type RowDataPacket } from 'mysql2/promise';
import { shippedSql, type RawRow } from '../support/mariadb.js';
import type { Sandbox, SandboxProcess } from './sandbox.js';

const DATABASE = 'multinic';
const PORT = 3306;
const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 15_000;

export interface StartOptions {
  /** false: Unix socket only (--skip-networking), so the agent still finds no database. Default true. */
  network?: boolean;
}

export interface RestartableDatabase {
  /** DB_* settings for an agent running inside the same sandbox (TCP to the sandbox's 127.0.0.1). */
  readonly agentEnv: Record<string, string>;
  /** Whether the server is running (started and not stopped). */
  readonly running: boolean;
  /** Runs a statement as root in the `multinic` database; rejects while the server is stopped. */
  query<T extends RowDataPacket[] | ResultSetHeader>(sql: string, values?: unknown[]): Promise<T>;
  /** Inserts the rows in one statement (one commit: an agent sees all or none); returns their ids. */
  insertRows(rows: readonly Partial<RawRow>[]): Promise<number[]>;
  /** netplan_success of each row, in the order given (undefined for a row that does not exist). */
  statuses(ids: readonly number[]): Promise<(number | null | undefined)[]>;
  /** Starts the server on the data it had (the schema is loaded on the very first start only). */
  startServer(options?: StartOptions): Promise<void>;
  /** Stops the server (SIGTERM, SIGKILL if it is not gone within 15 s) and waits for its exit. */
  stopServer(): Promise<void>;
  /** Stops the server if it runs. Safe to call twice. */
  stop(): Promise<void>;
}

/** Creates the datadir in `sb`, starts the server on it and loads the SQL the product ships. */
export async function startRestartableDatabase(sb: Sandbox): Promise<RestartableDatabase> {
  const db = new Server(sb);
  await db.startServer();
  return db;
}

class Server implements RestartableDatabase {
  readonly agentEnv = {
    DB_HOST: '127.0.0.1',
    DB_PORT: String(PORT),
    DB_USER: 'root',
    DB_PASSWORD: '',
    DB_NAME: DATABASE,
  };
  private readonly dir: string;
  private readonly socketPath: string;
  private server: SandboxProcess | undefined;
  private admin: Connection | undefined;
  private loaded = false;

  constructor(private readonly sb: Sandbox) {
    this.dir = join(sb.dir, 'mariadb');
    this.socketPath = join(this.dir, 'sock');
  }

  get running(): boolean {
    return this.server !== undefined && !hasExited(this.server);
  }

  async query<T extends RowDataPacket[] | ResultSetHeader>(sql: string, values: unknown[] = []): Promise<T> {
    if (this.admin === undefined || !this.running) throw new Error('the sandbox database is stopped');
    const [result] = await this.admin.query<T>(sql, values);
    return result;
  }

  async insertRows(rows: readonly Partial<RawRow>[]): Promise<number[]> {
    const full = rows.map(withDefaults);
    const columns = Object.keys(full[0] ?? {});
    const result = await this.query<ResultSetHeader>(
      `INSERT INTO multi_interface (${columns.join(', ')}) VALUES ?`,
      [full.map((row) => columns.map((column) => row[column as keyof typeof row]))],
    );
    // One multi-row INSERT gets consecutive ids (innodb_autoinc_lock_mode 1 or 2 without concurrency).
    return full.map((_, k) => result.insertId + k);
  }

  async statuses(ids: readonly number[]): Promise<(number | null | undefined)[]> {
    const rows = await this.query<RowDataPacket[]>('SELECT id, netplan_success FROM multi_interface');
    const byId = new Map(rows.map((row) => [row.id as number, row.netplan_success as number | null]));
    return ids.map((id) => byId.get(id));
  }

  async startServer(options: StartOptions = {}): Promise<void> {
    if (this.running) throw new Error('the sandbox database is already running');
    await mkdir(this.dir, { recursive: true });
    const network = options.network ?? true;
    const server = this.sb.spawn(
      [
        'mariadbd',
        '--no-defaults',
        `--datadir=${this.dir}`,
        `--socket=${this.socketPath}`,
        `--port=${PORT}`,
        '--bind-address=127.0.0.1',
        ...(network ? [] : ['--skip-networking']),
        '--user=root',
        '--skip-log-bin',
        '--skip-grant-tables',
        '--innodb-buffer-pool-size=32M',
        '--innodb-log-file-size=8M',
      ],
      { stdin: 'ignore' },
    );
    this.server = server;
    try {
      const admin = await connectWhenReady(this.socketPath, server);
      // A server stopped under an idle connection makes it emit 'error'; unheard, that would crash the run.
      admin.on('error', () => undefined);
      this.admin = admin;
      if (!this.loaded) {
        await admin.query(`CREATE DATABASE ${DATABASE}; USE ${DATABASE}`);
        await admin.query(await shippedSql('schema.sql'));
        await admin.query(await shippedSql('index.sql'));
        this.loaded = true;
      } else {
        await admin.query(`USE ${DATABASE}`);
      }
    } catch (error) {
      await this.stopServer();
      throw error;
    }
  }

  async stopServer(): Promise<void> {
    const { server, admin } = this;
    this.admin = undefined;
    await admin?.end().catch(() => undefined);
    if (server === undefined || hasExited(server)) return;
    await server.signal('SIGTERM').catch(() => undefined);
    const exited = await Promise.race([server.done.then(() => true), sleep(STOP_TIMEOUT_MS, false)]);
    if (!exited) {
      await server.signal('SIGKILL').catch(() => undefined);
      await server.done;
    }
  }

  stop(): Promise<void> {
    return this.stopServer();
  }
}

async function connectWhenReady(socketPath: string, server: SandboxProcess): Promise<Connection> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    try {
      return await createConnection({ socketPath, user: 'root', multipleStatements: true });
    } catch (error) {
      const exited = hasExited(server);
      if (exited || Date.now() > deadline) {
        const { stderr } = exited ? await server.done : { stderr: '(still running)' };
        throw new Error(`mariadbd in the sandbox is not ready: ${String(error)}\n${stderr}`);
      }
      await sleep(50);
    }
  }
}

function withDefaults(row: Partial<RawRow>): Omit<RawRow, 'id'> {
  return {
    port_id: randomUUID(),
    subnet_id: randomUUID(),
    macaddress: 'fa:16:3e:00:00:00',
    attached_node_name: 'worker-1',
    netplan_success: 0,
    address: null,
    cidr: null,
    mtu: 1500,
    deleted_at: null,
    ...row,
  };
}

function hasExited(server: SandboxProcess): boolean {
  return server.child.exitCode !== null || server.child.signalCode !== null;
}
