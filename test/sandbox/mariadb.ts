/**
 * A throw-away MariaDB server running INSIDE a sandbox, for the agent that runs there too.
 *
 * The agent in the sandbox has the sandbox's network namespace, so it cannot reach the machine's MariaDB
 * on 127.0.0.1. This server listens on the sandbox's own 127.0.0.1:3306 (for the agent) and on a Unix
 * socket in the sandbox's directory, which the test reaches from outside: a path-named socket is a file,
 * not a network address, so it works across network namespaces. It is the restartable server of
 * restartable-mariadb.ts, started once and never restarted.
 */
import type { Connection } from 'mysql2/promise';
import type { RawRow } from '../support/mariadb.js';
import { startRestartableDatabase } from './restartable-mariadb.js';
import type { Sandbox } from './sandbox.js';

export interface SandboxDatabase {
  /** DB_* settings for an agent running inside the same sandbox (TCP to the sandbox's 127.0.0.1). */
  readonly agentEnv: Record<string, string>;
  /** Root connection from the test, through the Unix socket, using the `multinic` database. */
  readonly admin: Connection;
  /** Inserts a row; a field left out gets a valid default, an explicit null stays NULL. Returns its id. */
  insertRow(row: Partial<RawRow>): Promise<number>;
  /** netplan_success of each row, in the order given (undefined for a row that does not exist). */
  statuses(ids: readonly number[]): Promise<(number | null | undefined)[]>;
  /** Closes the connection and stops the server (SIGTERM, SIGKILL after 15 s). Safe to call twice. */
  stop(): Promise<void>;
}

/** Starts mariadbd in `sb` on an empty datadir (no grant tables), and loads the SQL the product ships. */
export async function startSandboxDatabase(sb: Sandbox): Promise<SandboxDatabase> {
  const db = await startRestartableDatabase(sb);
  let stopping: Promise<void> | undefined;
  return {
    agentEnv: db.agentEnv,
    admin: db.admin,
    insertRow: async (row) => {
      const [id] = await db.insertRows([row]);
      if (id === undefined) throw new Error('INSERT INTO multi_interface returned no id');
      return id;
    },
    statuses: (ids) => db.statuses(ids),
    stop: () => (stopping ??= db.stop()),
  };
}
