/**
 * A throw-away MariaDB server of the bench's own (temp datadir, free port on 127.0.0.1, grant tables so
 * agents log in as a least-privilege user with a password, as in production). Stopped with SIGTERM.
 */
import type { Connection } from 'mysql2/promise';
import { spawnHere, startWithGrants } from '../../test/support/throwaway-mariadb.js';
import { processCpuMs, processRss } from '../../test/support/proc.js';

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
  /** Stops mariadbd, keeping its data (an outage); startServer() brings it back on the same port. */
  stopServer(): Promise<void>;
  startServer(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts mariadbd with the given extra options (e.g. `--max-connections=6000`). */
export async function startThrowawayServer(extra: readonly string[]): Promise<ThrowawayServer> {
  const { server, port } = await startWithGrants({
    prefix: 'multinic-bench-db-',
    // The agents' user is granted on '127.0.0.1', which name resolution would turn into 'localhost'.
    args: ['--skip-name-resolve', ...extra],
    // setpriv execs mariadbd (same pid) with a parent-death signal: if the bench is killed, so is the server.
    spawn: (argv) => spawnHere(['setpriv', '--pdeathsig', 'KILL', ...argv]),
  });
  return {
    get pid() {
      return server.pid;
    },
    port,
    socketPath: server.socketPath,
    get admin() {
      return server.admin;
    },
    cpuMs: () => processCpuMs(server.pid),
    rssBytes: () => processRss(server.pid),
    stopServer: () => server.stop(),
    startServer: async () => {
      await server.start();
    },
    stop: () => server.remove(),
  };
}
