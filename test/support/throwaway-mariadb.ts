/**
 * What every throw-away MariaDB server of the tests and the bench has in common: a directory of its own
 * (the datadir `data`, the Unix socket `sock`, `error.log`), system tables when grants must be enforced,
 * mariadbd started on it — on this machine, or through a caller's spawner such as a sandbox's spawn() —,
 * a wait until root logs in through the socket, a stop that ends in SIGKILL, a restart on the same data,
 * and the removal of it all.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { createConnection, type Connection } from 'mysql2/promise';

export const MARIADBD = '/usr/sbin/mariadbd';
export const INSTALL_DB = '/usr/bin/mariadb-install-db';

const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

/** mariadbd as a spawner started it; a sandbox's spawn() returns one. */
export interface MariadbProcess {
  readonly child: ChildProcess;
  /** Settles once the process has exited. */
  readonly done: Promise<unknown>;
  signal(signal: NodeJS.Signals): Promise<void>;
}

/** Starts argv (mariadbd and its options) somewhere: spawnHere() on this machine, or in a sandbox. */
export type SpawnMariadb = (argv: string[]) => MariadbProcess;

export interface ThrowawayOptions {
  /** Holds `data`, `sock` and `error.log`; created when missing. */
  dir: string;
  /** Options after the shared ones (datadir, socket, error log, 127.0.0.1, no binary log), e.g. the port. */
  args: readonly string[];
  /** How mariadbd is run; spawnHere by default. */
  spawn?: SpawnMariadb;
}

/** One mariadbd on one datadir, which can be stopped and started again on the same data. */
export class ThrowawayMariadb {
  readonly dir: string;
  readonly datadir: string;
  readonly socketPath: string;
  private readonly errorLog: string;
  private mariadbd: MariadbProcess | undefined;
  private connection: Connection | undefined;

  constructor(private readonly options: ThrowawayOptions) {
    this.dir = options.dir;
    this.datadir = join(options.dir, 'data');
    this.socketPath = join(options.dir, 'sock');
    this.errorLog = join(options.dir, 'error.log');
  }

  /** Whether mariadbd was started and has not exited. */
  get running(): boolean {
    return this.mariadbd !== undefined && !hasExited(this.mariadbd);
  }

  /** Pid of the spawned process (with spawnHere, mariadbd's own); 0 before the first start. */
  get pid(): number {
    return this.mariadbd?.child.pid ?? 0;
  }

  /** Root through the socket, multipleStatements, as start() returned it; throws while stopped. */
  get admin(): Connection {
    if (this.connection === undefined || !this.running) throw new Error(`mariadbd in ${this.dir} is stopped`);
    return this.connection;
  }

  /** Creates the system tables (root@localhost with an empty password, no test database). */
  async install(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await promisify(execFile)(
      INSTALL_DB,
      [
        '--no-defaults',
        `--datadir=${this.datadir}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        '--innodb-log-file-size=8M',
        ...rootUser(),
      ],
      { cwd: this.dir, timeout: 60_000 },
    );
  }

  /**
   * Starts mariadbd on the datadir as it is (an empty one needs --skip-grant-tables or install() first),
   * with `extra` options for this start only, and resolves with the admin connection once root logs in.
   */
  async start(extra: readonly string[] = []): Promise<Connection> {
    if (this.running) throw new Error(`mariadbd in ${this.dir} is already running`);
    await mkdir(this.datadir, { recursive: true });
    const spawnMariadb = this.options.spawn ?? spawnHere;
    const argv = [MARIADBD, ...this.sharedArgs(), ...this.options.args, ...extra];
    const mariadbd = spawnMariadb(argv);
    this.mariadbd = mariadbd;
    try {
      const admin = await this.connectWhenReady(mariadbd);
      // A server stopped under an idle connection makes it emit 'error'; unheard, that would crash the run.
      admin.on('error', () => undefined);
      this.connection = admin;
      return admin;
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Closes the admin connection, then SIGTERM (SIGKILL after 15 s) and waits for the exit. */
  async stop(): Promise<void> {
    const { mariadbd, connection } = this;
    this.connection = undefined;
    await connection?.end().catch(() => undefined);
    if (mariadbd === undefined || hasExited(mariadbd)) return;
    await mariadbd.signal('SIGTERM').catch(() => undefined);
    const exited = mariadbd.done.then(
      () => true,
      () => true,
    );
    if (await Promise.race([exited, sleep(STOP_TIMEOUT_MS, false, { ref: false })])) return;
    await mariadbd.signal('SIGKILL').catch(() => undefined);
    await exited;
  }

  /** stop(), then deletes the directory. */
  async remove(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }

  private sharedArgs(): string[] {
    // --no-defaults must come first.
    return [
      '--no-defaults',
      `--datadir=${this.datadir}`,
      `--socket=${this.socketPath}`,
      `--log-error=${this.errorLog}`,
      '--bind-address=127.0.0.1',
      '--skip-log-bin',
      ...rootUser(),
    ];
  }

  private async connectWhenReady(mariadbd: MariadbProcess): Promise<Connection> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      try {
        return await createConnection({
          socketPath: this.socketPath,
          user: 'root',
          multipleStatements: true,
        });
      } catch (error) {
        const exited = hasExited(mariadbd);
        if (exited || Date.now() > deadline) {
          const log = await readFile(this.errorLog, 'utf8').catch(() => '(no error log)');
          const state = exited ? 'exited' : `is not ready after ${READY_TIMEOUT_MS / 1000} s`;
          throw new Error(`mariadbd in ${this.dir} ${state}: ${String(error)}\n${log.slice(-2000)}`);
        }
        await sleep(50);
      }
    }
  }
}

/**
 * A server on this machine that enforces grants: system tables in a new temporary directory, mariadbd on
 * a free port of 127.0.0.1 (`args` come after `--port`), started; remove() it when done.
 */
export async function startWithGrants(options: {
  prefix: string;
  args: readonly string[];
  spawn?: SpawnMariadb;
}): Promise<{ server: ThrowawayMariadb; port: number }> {
  const dir = await mkdtemp(join(tmpdir(), options.prefix));
  const port = await freePort();
  const args = [`--port=${port}`, ...options.args];
  const server = new ThrowawayMariadb({ dir, args, spawn: options.spawn });
  try {
    await server.install();
    await server.start();
    return { server, port };
  } catch (error) {
    await server.remove();
    throw error;
  }
}

/** Runs argv as a child of this process, its output ignored (mariadbd writes to its error log). */
export function spawnHere(argv: string[]): MariadbProcess {
  const [command = MARIADBD, ...args] = argv;
  const child = spawn(command, args, { stdio: 'ignore' });
  const done = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  return {
    child,
    done,
    signal: (signal) => {
      child.kill(signal);
      return Promise.resolve();
    },
  };
}

/** A TCP port of 127.0.0.1 that nothing listens on right now. */
export function freePort(): Promise<number> {
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

// mariadbd and mariadb-install-db refuse to run as root unless told to.
function rootUser(): string[] {
  return process.getuid?.() === 0 ? ['--user=root'] : [];
}

function hasExited(mariadbd: MariadbProcess): boolean {
  return mariadbd.child.exitCode !== null || mariadbd.child.signalCode !== null;
}
