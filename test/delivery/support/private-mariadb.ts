/**
 * A throwaway MariaDB server with real grant tables (mariadb-install-db on a temporary datadir, then
 * mariadbd on a free loopback port), for tests that must see privileges enforced: the shared test server
 * may run with --skip-grant-tables. Every statement is kept in mysql.general_log so a test can read back
 * exactly what a client sent. Starts in a few seconds; stop() kills it and removes its files.
 */
import { createConnection, type Connection } from 'mysql2/promise';
import { startWithGrants } from '../../support/throwaway-mariadb.js';

export { INSTALL_DB, MARIADBD } from '../../support/throwaway-mariadb.js';

export interface PrivateMariadb {
  host: string;
  port: number;
  /** A new root connection (empty password) with multipleStatements. */
  admin(database?: string): Promise<Connection>;
  stop(): Promise<void>;
}

export async function startPrivateMariadb(): Promise<PrivateMariadb> {
  const { server, port } = await startWithGrants({
    prefix: 'multinic-mariadb-',
    args: ['--innodb-buffer-pool-size=32M', '--log-output=TABLE', '--general-log=1'],
  });
  const host = '127.0.0.1';
  return {
    host,
    port,
    admin: (database) =>
      createConnection({ host, port, user: 'root', password: '', database, multipleStatements: true }),
    stop: () => server.remove(),
  };
}
