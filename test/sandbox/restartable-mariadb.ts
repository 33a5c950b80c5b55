/**
 * A MariaDB inside a sandbox that a test can stop and start again on the same data: database outages
 * seen by an agent running in the same sandbox. mariadb.ts has the simpler always-up view of it.
 *
 * The agent reaches the server over TCP on the sandbox's 127.0.0.1:3306; the test reaches it through a
 * Unix socket in the sandbox's directory (a file, so it works across network namespaces). Started with
 * `network: false`, the server listens on that socket only: the test can change rows while, for the
 * agent, the database is still down.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Connection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { shippedSql, type RawRow } from '../support/mariadb.js';
import { ThrowawayMariadb } from '../support/throwaway-mariadb.js';
import type { Sandbox } from './sandbox.js';

const DATABASE = 'multinic';
const PORT = 3306;

export interface StartOptions {
  /** false: Unix socket only (--skip-networking), so the agent still finds no database. Default true. */
  network?: boolean;
}

export interface RestartableDatabase {
  /** DB_* settings for an agent running inside the same sandbox (TCP to the sandbox's 127.0.0.1). */
  readonly agentEnv: Record<string, string>;
  /** Whether the server is running (started and not stopped). */
  readonly running: boolean;
  /** The server's Unix socket (in the sandbox's directory): the same path on every start. */
  readonly socketPath: string;
  /** Root connection through the socket, in the `multinic` database; a new one each start. */
  readonly admin: Connection;
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
  private readonly server: ThrowawayMariadb;
  private loaded = false;

  constructor(sb: Sandbox) {
    // No system tables: --skip-grant-tables on an empty datadir starts in a moment.
    this.server = new ThrowawayMariadb({
      dir: join(sb.dir, 'mariadb'),
      args: [
        `--port=${PORT}`,
        '--skip-grant-tables',
        '--innodb-buffer-pool-size=32M',
        '--innodb-log-file-size=8M',
      ],
      spawn: (argv) => sb.spawn(argv, { stdin: 'ignore' }),
    });
  }

  get running(): boolean {
    return this.server.running;
  }

  get socketPath(): string {
    return this.server.socketPath;
  }

  get admin(): Connection {
    return this.server.admin;
  }

  async query<T extends RowDataPacket[] | ResultSetHeader>(sql: string, values: unknown[] = []): Promise<T> {
    if (!this.running) throw new Error('the sandbox database is stopped');
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
    const admin = await this.server.start(options.network === false ? ['--skip-networking'] : []);
    try {
      if (this.loaded) {
        await admin.query(`USE ${DATABASE}`);
        return;
      }
      await admin.query(`CREATE DATABASE ${DATABASE}; USE ${DATABASE}`);
      await admin.query(await shippedSql('schema.sql'));
      await admin.query(await shippedSql('index.sql'));
      await admin.query(await shippedSql('fleet.sql'));
      this.loaded = true;
    } catch (error) {
      await this.server.stop();
      throw error;
    }
  }

  stopServer(): Promise<void> {
    return this.server.stop();
  }

  stop(): Promise<void> {
    return this.server.stop();
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
