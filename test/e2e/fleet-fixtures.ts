/**
 * A fleet for end-to-end scenarios: several sandboxed nodes (a network namespace each, the real netplan and
 * systemd-networkd, the real agent daemon with its own NODE_NAME) sharing ONE real MariaDB, as the nodes of
 * a cluster share the controller's database.
 *
 * How the nodes reach the database. Each sandbox has a network namespace of its own, so no TCP address is
 * common to two of them, and none may be added to this machine's network. A path-named Unix socket is a
 * file, not a network address, and every sandbox sees this machine's /tmp (a sandbox remounts only /run,
 * /sys, /etc and /var/lib), so a socket in a sandbox's directory there is reachable from all of them:
 *   - the server runs in a sandbox of its own (`fleet-db`), on that sandbox's 127.0.0.1:3306 and on its
 *     socket `mariadb/sock` (restartable-mariadb.ts); the test connects through that socket as root;
 *   - in the same sandbox, the demo's bridge (src/demo/bridge.ts) forwards the socket `nodes.sock` to the
 *     server's TCP port;
 *   - in every node a forwarder listens on the node's 127.0.0.1:3306 and pipes each connection to
 *     `nodes.sock`, so the agent keeps its normal DB_HOST=127.0.0.1, DB_PORT=3306.
 * The nodes' path ends at the server's TCP port, the test's at its socket: started with `{ network: false }`
 * the server is up for the test and still down for every node (the controller changes rows during an
 * outage). Everything runs inside sandboxes, so a test process that dies takes the whole fleet with it.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeAll } from 'vitest';
import type { RawRow } from '../support/mariadb.js';
import { agentCli, agentEnv, startDaemon, type Daemon } from '../sandbox/agent.js';
import { httpGet, type HttpResponse } from '../sandbox/http.js';
import { startRestartableDatabase, type RestartableDatabase } from '../sandbox/restartable-mariadb.js';
import {
  forEachLine,
  startSandbox,
  type Nic,
  type Sandbox,
  type SandboxProcess,
} from '../sandbox/sandbox.js';

/** The agent's health server port, the same in every node (each has its own network namespace). */
export const HEALTH_PORT = 8080;
/** Where the database is, for the agent: the server's port in its sandbox, the forwarder's in a node. */
const DB_PORT = 3306;
const READY_TIMEOUT_MS = 10_000;
const MAX_NODES = 255; // one byte of the MAC and of the addresses

export interface FleetOptions {
  nodes: number;
  nicsPerNode: number;
}

/** One sandboxed node: hostname `name`, NICs `ens3`, `ens4`… with MACs of its own. */
export interface FleetNode {
  /** 0-based; the node's MACs are fa:16:3e:<index>:00:<nic>, its rows' addresses 10.<index>.<nic>.10/24. */
  readonly index: number;
  /** `node-<index>`: its hostname and its agent's NODE_NAME. */
  readonly name: string;
  readonly sb: Sandbox;
  readonly nics: readonly Nic[];
}

/** The shared server: restartable on the same data; the fleet's stop() stops it. */
export type FleetDatabase = Omit<RestartableDatabase, 'stop'>;

export interface Fleet {
  readonly db: FleetDatabase;
  /** The sandbox the server (and the bridge to it) runs in; no agent runs there. */
  readonly dbSandbox: Sandbox;
  readonly nodes: readonly FleetNode[];
  /** Starts the agent daemon in `node` (NODE_NAME, POLL_INTERVAL=1s, HEALTH_PORT), `overrides` last. */
  startAgent(node: FleetNode, overrides?: Record<string, string>): Promise<Daemon>;
  /** Stops every daemon, the server and every sandbox (forwarders, bridge); safe to call twice. */
  stop(): Promise<void>;
}

/** MAC of NIC `nic` of node `node`: unique across the fleet. */
export function mac(node: number, nic: number): string {
  return `fa:16:3e:${hex(node)}:00:${hex(nic)}`;
}

/** The row of NIC `nic` of `node`: attached to it, 10.<node>.<nic>.10/24, MTU 1500, unless overridden. */
export function row(node: FleetNode, nic: number, overrides: Partial<RawRow> = {}): Partial<RawRow> {
  const net = `10.${node.index}.${nic}`;
  return {
    macaddress: mac(node.index, nic),
    attached_node_name: node.name,
    address: `${net}.10`,
    cidr: `${net}.0/24`,
    mtu: 1500,
    ...overrides,
  };
}

/** GET `path` of the health server of the agent running in `node` (`/readyz`, `/`, `/metrics`). */
export function health(node: FleetNode, path: string): Promise<HttpResponse> {
  return httpGet(node.sb, HEALTH_PORT, path);
}

/**
 * startFleet() for a describe block's tests: the agent is compiled once before them, and the fleet a test
 * started is stopped after it.
 */
export function useFleet(): (options: FleetOptions) => Promise<Fleet> {
  let running: Fleet | undefined;
  beforeAll(async () => {
    await agentCli();
  }, 120_000);
  afterEach(async () => {
    await running?.stop();
    running = undefined;
  });
  return async (options) => (running = await startFleet(options));
}

/** Starts the server, the bridge and the nodes with their forwarders; ready for startAgent(). */
export async function startFleet(options: FleetOptions): Promise<Fleet> {
  if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > MAX_NODES) {
    throw new Error(`a fleet has 1 to ${MAX_NODES} nodes, not ${options.nodes}`);
  }
  if (!Number.isInteger(options.nicsPerNode) || options.nicsPerNode < 0 || options.nicsPerNode > 255) {
    throw new Error(`a fleet node has 0 to 255 NICs, not ${options.nicsPerNode}`);
  }
  const fleet = new RunningFleet();
  try {
    await fleet.start(options);
    return fleet;
  } catch (error) {
    await fleet.stop();
    throw error;
  }
}

class RunningFleet implements Fleet {
  private readonly sandboxes: Sandbox[] = [];
  private readonly daemons: Daemon[] = [];
  private database: RestartableDatabase | undefined;
  private started: { dbSandbox: Sandbox; nodes: FleetNode[] } | undefined;
  private stopping: Promise<void> | undefined;

  get db(): FleetDatabase {
    if (this.database === undefined) throw new Error('the fleet is not started');
    return this.database;
  }

  get dbSandbox(): Sandbox {
    return this.ready().dbSandbox;
  }

  get nodes(): readonly FleetNode[] {
    return this.ready().nodes;
  }

  async start({ nodes: count, nicsPerNode }: FleetOptions): Promise<void> {
    const specs = Array.from({ length: count }, (_, index) => ({
      index,
      name: `node-${index}`,
      nics: Array.from({ length: nicsPerNode }, (_, k) => ({ name: `ens${k + 3}`, mac: mac(index, k) })),
    }));
    // Sandboxes share nothing but the file system (each its own directory), so they start in parallel.
    const [dbSandbox, ...nodeSandboxes] = await this.startSandboxes([
      { hostname: 'fleet-db' },
      ...specs.map((spec) => ({ hostname: spec.name, nics: spec.nics })),
    ]);
    if (dbSandbox === undefined) throw new Error('the database sandbox did not start');
    const nodes = specs.map((spec, k) => ({ ...spec, sb: nodeSandboxes[k] as Sandbox }));
    const build = dirname(await agentCli());
    const nodesSocket = join(dbSandbox.dir, 'nodes.sock');
    const [database] = await Promise.all([
      startRestartableDatabase(dbSandbox),
      startBridge(dbSandbox, join(build, 'demo', 'bridge.js'), nodesSocket),
    ]);
    this.database = database;
    const pipeJs = join(build, 'demo', 'pipe.js');
    await Promise.all(nodes.map((node) => startForwarder(node.sb, pipeJs, nodesSocket)));
    this.started = { dbSandbox, nodes };
  }

  async startAgent(node: FleetNode, overrides: Record<string, string> = {}): Promise<Daemon> {
    const env = agentEnv(this.db.agentEnv, {
      NODE_NAME: node.name,
      POLL_INTERVAL: '1s',
      HEALTH_PORT: String(HEALTH_PORT),
      ...overrides,
    });
    const daemon = await startDaemon(node.sb, env);
    this.daemons.push(daemon);
    return daemon;
  }

  stop(): Promise<void> {
    this.stopping ??= this.teardown();
    return this.stopping;
  }

  private ready(): { dbSandbox: Sandbox; nodes: FleetNode[] } {
    if (this.started === undefined) throw new Error('the fleet is not started');
    return this.started;
  }

  /** Starts them all; keeps each one that started for stop(), even when another failed. */
  private async startSandboxes(options: Parameters<typeof startSandbox>[0][]): Promise<Sandbox[]> {
    const results = await Promise.allSettled(options.map((each) => startSandbox(each)));
    for (const result of results) if (result.status === 'fulfilled') this.sandboxes.push(result.value);
    const failed = results.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    return results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  }

  private async teardown(): Promise<void> {
    // Daemons first, so that they end cleanly (SIGTERM) rather than with their sandbox.
    const results: PromiseSettledResult<unknown>[] = await Promise.allSettled(
      this.daemons.map((daemon) => daemon.stop()),
    );
    results.push(...(await Promise.allSettled([this.database?.stop()])));
    results.push(...(await Promise.allSettled(this.sandboxes.map((sb) => sb.stop()))));
    const failed = results.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }
}

/** The demo's bridge in the database's sandbox: `socket` → the server's 127.0.0.1:3306 there. */
async function startBridge(sb: Sandbox, bridgeJs: string, socket: string): Promise<void> {
  const proc = sb.spawn([process.execPath, bridgeJs, socket, String(DB_PORT)], { stdin: 'ignore' });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!existsSync(socket)) {
    if (exited(proc)) throw new Error(`the database bridge exited: ${(await proc.done).stderr.trim()}`);
    if (Date.now() > deadline) throw new Error(`no ${socket} after ${READY_TIMEOUT_MS} ms`);
    await sleep(20);
  }
}

// Run in a node as `node --input-type=module -e FORWARD <pipe.js URL> <socket> <port>`. Before it listens,
// one connection must bring the server's greeting: the whole path from this node works.
const FORWARD = `
import { connect, createServer } from 'node:net';
const [pipeJs, socket, port] = process.argv.slice(1);
const { pipeBoth } = await import(pipeJs);
await new Promise((resolve, reject) => {
  const probe = connect(socket);
  probe.once('data', () => { probe.destroy(); resolve(); });
  probe.once('error', reject);
  probe.once('close', () => reject(new Error('no greeting from the server through ' + socket)));
});
createServer((client) => pipeBoth(client, connect(socket)))
  .listen(Number(port), '127.0.0.1', () => process.stdout.write('listening\\n'));
`;

/** Listens on the node's 127.0.0.1:3306 and pipes every connection to `socket`; resolves once it does. */
async function startForwarder(sb: Sandbox, pipeJs: string, socket: string): Promise<void> {
  const argv = ['--input-type=module', '-e', FORWARD, pathToFileURL(pipeJs).href, socket, String(DB_PORT)];
  const proc = sb.spawn([process.execPath, ...argv], { stdin: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`database forwarder in ${sb.dir} not listening after ${READY_TIMEOUT_MS} ms`));
    }, READY_TIMEOUT_MS);
    forEachLine(proc.child.stdout, (line) => {
      if (line !== 'listening') return;
      clearTimeout(timer);
      resolve();
    });
    proc.done.then(
      (result) => {
        clearTimeout(timer);
        reject(new Error(`database forwarder in ${sb.dir} exited ${result.code}: ${result.stderr.trim()}`));
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

function exited(proc: SandboxProcess): boolean {
  return proc.child.exitCode !== null || proc.child.signalCode !== null;
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}
