import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { initialState, runCycle, type CycleReport, type CycleState } from '../../src/agent/cycle.js';
import { guardedCycle } from '../../src/commands.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { LiveLink } from '../../src/core/types.js';
import { createLogger } from '../../src/log.js';
import { buildAgent, type Agent } from '../../src/main.js';
import { FakeNetwork } from './fake-network.js';
import { macOf } from './fixtures.js';
import { type RawRow, type TestDatabase } from './mariadb.js';
import { makeUbuntuHostRoot } from '../../src/demo/files-demo.js';

export interface LogLine {
  level: string;
  msg: string;
  time: string;
  [key: string]: unknown;
}

/** A temporary host root that looks like an Ubuntu node, with eth0 holding the default route. */
export function makeHostRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'multinic-host-'));
  makeUbuntuHostRoot(root);
  return root;
}

/**
 * Settings of an agent on node worker-1 against a test database and a host root made by makeHostRoot:
 * host commands run beside the agent (no nsenter), the default route is the host root's.
 */
export function agentEnv(db: TestDatabase, hostRoot: string): Record<string, string> {
  return {
    DB_HOST: db.settings.host,
    DB_PORT: String(db.settings.port),
    DB_USER: db.settings.user,
    DB_PASSWORD: db.settings.password,
    DB_NAME: db.settings.database,
    NODE_NAME: 'worker-1',
    HOST_ROOT: hostRoot,
    COMMAND_PREFIX: '',
    PROC_NET_ROUTE: join(hostRoot, 'proc', 'net', 'route'),
  };
}

export const ETH0: LiveLink = {
  name: 'eth0',
  mac: 'fa:16:3e:ff:ff:00',
  mtu: 1500,
  ipv4: [{ ip: '192.168.0.5', prefix: 24 }],
};

export interface Harness {
  agent: Agent;
  net: FakeNetwork;
  config: Config;
  logs: LogLine[];
  state: CycleState;
  hostRoot: string;
  logger: Logger;
  cycle(): Promise<CycleReport>;
  /** One cycle as the daemon runs it: never throws, reports to telemetry. Resolves false when the loop would back off. */
  tick(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * The real agent wiring (main.ts) against a real MariaDB and a temporary host root, with the fake network
 * standing in for the kernel and networkd.
 */
export async function startHarness(
  db: TestDatabase,
  links: LiveLink[],
  env: Record<string, string> = {},
): Promise<Harness> {
  const hostRoot = makeHostRoot();
  const net = new FakeNetwork(hostRoot, [ETH0, ...links]);
  const loaded = loadConfig({
    env: { ...agentEnv(db, hostRoot), VERIFY_TIMEOUT: '300ms', ...env },
    readFile: () => '',
    hostname: () => 'unused',
  });
  if (!loaded.ok) throw new Error(loaded.errors.join('; '));
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n'))
        if (line !== '') logs.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const logger = createLogger('debug', sink);
  const agent = await buildAgent(loaded.config, logger, {
    runner: net,
    readLinks: net.readLinks,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.min(ms, 20))),
  });
  const state = initialState();
  return {
    agent,
    net,
    config: loaded.config,
    logs,
    state,
    hostRoot,
    logger,
    cycle: () => runCycle(agent.deps, state),
    tick: async () => (await guardedCycle(agent, state, logger)) !== 'failed',
    async close() {
      await agent.close();
      rmSync(hostRoot, { recursive: true, force: true });
    },
  };
}

/** The n-th OpenStack port as the host first sees it: a NIC not renamed yet, without addresses. */
export function portNic(n: number): LiveLink {
  return { name: `ens${n + 3}`, mac: macOf(n), mtu: 1500, ipv4: [] };
}

/** The row of the n-th port: 10.0.n.10/24, MTU 1500. */
export function portRow(n: number, overrides: Partial<RawRow> = {}): Partial<RawRow> {
  return { macaddress: macOf(n), address: `10.0.${n}.10`, cidr: `10.0.${n}.0/24`, mtu: 1500, ...overrides };
}

/** Inserts the rows of ports 0..count-1; returns their ids. */
export async function insertPortRows(db: TestDatabase, count: number): Promise<number[]> {
  const ids: number[] = [];
  for (let n = 0; n < count; n += 1) ids.push(await db.insertRow(portRow(n)));
  return ids;
}

/** Names of the files in the harness host's /etc/netplan, sorted. */
export function netplanFiles(harness: Harness): string[] {
  return readdirSync(join(harness.hostRoot, 'etc', 'netplan')).sort();
}

/** Content of one file in the harness host's /etc/netplan. */
export function netplanFile(harness: Harness, name: string): string {
  return readFileSync(join(harness.hostRoot, 'etc', 'netplan', name), 'utf8');
}
