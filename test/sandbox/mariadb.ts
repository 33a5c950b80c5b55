/**
 * A throw-away MariaDB server running INSIDE a sandbox, for the agent that runs there too.
 *
 * The agent in the sandbox has the sandbox's network namespace, so it cannot reach the machine's MariaDB
 * on 127.0.0.1. This server listens on the sandbox's own 127.0.0.1:3306 (for the agent) and on a Unix
 * socket in the sandbox's directory, which the test reaches from outside: a path-named socket is a file,
 * not a network address, so it works across network namespaces.
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
const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;

export interface SandboxDatabase {
  /** DB_* settings for an agent running inside the same sandbox (TCP to the sandbox's 127.0.0.1). */
  readonly agentEnv: Record<string, string>;
  /** Root connection from the test, through the Unix socket, using the `multinic` database. */
  readonly admin: Connection;
  /** Inserts a row; a field left out gets a valid default, an explicit null stays NULL. Returns its id. */
  insertRow(row: Partial<RawRow>): Promise<number>;
  /** netplan_success of each row, in the order given (undefined for a row that does not exist). */
  statuses(ids: readonly number[]): Promise<(number | null | undefined)[]>;
  /** Closes the connection and stops the server (SIGTERM). Safe to call twice. */
  stop(): Promise<void>;
}

/** Starts mariadbd in `sb` on an empty datadir (no grant tables), and loads the SQL the product ships. */
export async function startSandboxDatabase(sb: Sandbox): Promise<SandboxDatabase> {
  const dir = join(sb.dir, 'mariadb');
  await mkdir(dir, { recursive: true });
  const socketPath = join(dir, 'sock');
  const server = sb.spawn(
    [
      'mariadbd',
      '--no-defaults',
      `--datadir=${dir}`,
      `--socket=${socketPath}`,
      `--port=${PORT}`,
      '--bind-address=127.0.0.1',
      '--user=root',
      '--skip-log-bin',
      '--skip-grant-tables',
      '--innodb-buffer-pool-size=32M',
      '--innodb-log-file-size=8M',
    ],
    { stdin: 'ignore' },
  );
  let admin: Connection;
  try {
    admin = await connectWhenReady(socketPath, server);
    // A server stopped under an idle connection makes it emit 'error'; unheard, that would crash the run.
    admin.on('error', () => undefined);
    await admin.query(`CREATE DATABASE ${DATABASE}; USE ${DATABASE}`);
    await admin.query(await shippedSql('schema.sql'));
    await admin.query(await shippedSql('index.sql'));
  } catch (error) {
    await stopServer(server);
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return {
    agentEnv: {
      DB_HOST: '127.0.0.1',
      DB_PORT: String(PORT),
      DB_USER: 'root',
      DB_PASSWORD: '',
      DB_NAME: DATABASE,
    },
    admin,
    insertRow: (row) => insertRow(admin, row),
    statuses: (ids) => statuses(admin, ids),
    stop: () => (stopping ??= stop(admin, server)),
  };
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

async function insertRow(admin: Connection, row: Partial<RawRow>): Promise<number> {
  const values: Omit<RawRow, 'id'> & { id?: number } = {
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
  const [result] = await admin.query<ResultSetHeader>('INSERT INTO multi_interface SET ?', [values]);
  return result.insertId;
}

async function statuses(admin: Connection, ids: readonly number[]): Promise<(number | null | undefined)[]> {
  const [rows] = await admin.query<RowDataPacket[]>('SELECT id, netplan_success FROM multi_interface');
  const byId = new Map(rows.map((row) => [row.id as number, row.netplan_success as number | null]));
  return ids.map((id) => byId.get(id));
}

async function stop(admin: Connection, server: SandboxProcess): Promise<void> {
  await admin.end().catch(() => undefined);
  await stopServer(server);
}

/** SIGTERM, and a bounded wait; the sandbox's stop() kills whatever is left anyway. */
async function stopServer(server: SandboxProcess): Promise<void> {
  if (hasExited(server)) return;
  await server.signal('SIGTERM').catch(() => undefined);
  await Promise.race([server.done.catch(() => undefined), sleep(STOP_TIMEOUT_MS)]);
}

function hasExited(server: SandboxProcess): boolean {
  return server.child.exitCode !== null || server.child.signalCode !== null;
}
