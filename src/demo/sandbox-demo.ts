/**
 * `multinic-agent demo` as root: a simulated node in a sandbox (src/demo/sandbox.ts: its own network,
 * mount, pid and UTS namespaces) with a primary NIC holding the default route and three secondary NICs,
 * the real netplan and systemd-networkd, and the shipped agent (`cli.js run`) on an embedded store seeded
 * with rows for it. The demo prints what the agent did to the NICs, serves the agent's health and metrics
 * on this machine's localhost (through a Unix socket: nothing is added to the machine's network), and
 * prints the node again whenever the user's row edits change it. Ctrl-C stops the agent and the sandbox
 * and removes its directory; if the demo itself is killed, the sandbox ends with it.
 */
import { readdirSync } from 'node:fs';
import { get } from 'node:http';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { DemoOptions } from './demo.js';
import { nodeTable, type StatusRow } from './node-table.js';
import { pipeBoth } from './pipe.js';
import { forEachLine, startSandbox, type Sandbox, type SandboxProcess } from './sandbox.js';
import { DEMO_NICS, DEMO_NODE, editCommands, PRIMARY_NIC, seedStore } from './seed.js';

const CLI = fileURLToPath(new URL('../cli.js', import.meta.url));
const BRIDGE = fileURLToPath(new URL('./bridge.js', import.meta.url));
/** Where the agent listens inside the sandbox. */
const INNER_PORT = 8080;
const PRIMARY_ADDRESS = '192.168.100.10/24';
const PRIMARY_GATEWAY = '192.168.100.1';
const SETTLE_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

export async function runSandboxDemo(options: DemoOptions): Promise<number> {
  const { out } = options;
  const sb = await startSandbox({ nics: [PRIMARY_NIC, ...DEMO_NICS], hostname: DEMO_NODE });
  let agent: SandboxProcess | undefined;
  let server: Server | undefined;
  try {
    await addPrimaryRoute(sb);
    const dbPath = join(sb.dir, 'multinic.db');
    await seedStore(dbPath);
    const socket = join(sb.dir, 'health.sock');
    sb.spawn([process.execPath, BRIDGE, socket, String(INNER_PORT)], { stdin: 'ignore', inheritEnv: false });
    server = await listenLocal(options.port, socket, out);
    const port = (server.address() as AddressInfo).port;
    out(`multinic-agent demo: simulated node ${DEMO_NODE} in a sandbox (${sb.dir})`);
    out('real netplan and systemd-networkd on virtual NICs; this machine’s own network is not touched');
    out(`health and metrics: http://127.0.0.1:${port}/  http://127.0.0.1:${port}/metrics`);
    out('');
    out('the node before the agent:');
    const before = await tableOf(sb, dbPath, port);
    before.forEach((line) => out(`  ${line}`));
    out('');
    agent = startAgent(sb, dbPath, out);
    const settled = await waitFirstCycle(agent, port);
    out('');
    out(settled ? 'the node after the agent’s first cycle:' : 'the agent finished no cycle within 60 s:');
    let previous = await tableOf(sb, dbPath, port);
    previous.forEach((line) => out(`  ${line}`));
    if (options.once) {
      out('');
      await printEndpoints(port, out);
      return settled ? 0 : 1;
    }
    printInstructions(dbPath, port, out);
    while (!(await stoppedWithin(options.stopped, 1_000))) {
      const lines = await tableOf(sb, dbPath, port);
      if (lines.join('\n') === previous.join('\n')) continue;
      previous = lines;
      out('');
      out(`the node now (${new Date().toISOString()}):`);
      lines.forEach((line) => out(`  ${line}`));
    }
    return 0;
  } finally {
    if (agent !== undefined) await stopAgent(agent);
    server?.close();
    await sb.stop();
    out('');
    out(`demo over: agent and sandbox stopped, ${sb.dir} removed`);
  }
}

/** The primary NIC as a cloud image sets it up: an address and the default route, no netplan file. */
async function addPrimaryRoute(sb: Sandbox): Promise<void> {
  await sb.execOk(['ip', 'addr', 'add', PRIMARY_ADDRESS, 'dev', PRIMARY_NIC.name]);
  await sb.execOk(['ip', 'link', 'set', PRIMARY_NIC.name, 'up']);
  await sb.execOk(['ip', 'route', 'add', 'default', 'via', PRIMARY_GATEWAY, 'dev', PRIMARY_NIC.name]);
}

function startAgent(sb: Sandbox, dbPath: string, out: (line: string) => void): SandboxProcess {
  const env = {
    DB_URL: `sqlite:${dbPath}`,
    NODE_NAME: DEMO_NODE,
    HOST_ROOT: '/',
    COMMAND_PREFIX: '',
    OS_TYPE: 'netplan',
    POLL_INTERVAL: '2s',
    MAX_BACKOFF: '10s',
    HEALTH_BIND: '127.0.0.1',
    HEALTH_PORT: String(INNER_PORT),
    LOG_LEVEL: 'info',
  };
  const agent = sb.spawn([process.execPath, CLI, 'run'], { env, stdin: 'ignore', inheritEnv: false });
  forEachLine(agent.child.stdout, (line) => out(`  agent: ${summarize(line)}`));
  forEachLine(agent.child.stderr, (line) => out(`  agent (stderr): ${line}`));
  return agent;
}

/** A JSON log line of the agent as one short line: level, message and the fields that say what and why. */
function summarize(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const keys = ['interface_id', 'interface_name', 'mac_address', 'action', 'drifts', 'field', 'reason'];
  const fields = keys
    .filter((key) => entry[key] !== undefined)
    .map((key) => `${key}=${Array.isArray(entry[key]) ? entry[key].join(',') : String(entry[key])}`);
  return [String(entry.level), String(entry.msg), ...fields].join('  ');
}

/** Until the agent reports its first finished cycle (health's last_sync); false on timeout or exit. */
async function waitFirstCycle(agent: SandboxProcess, port: number): Promise<boolean> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  while (Date.now() < deadline && agent.child.exitCode === null) {
    const health = await getText(port, '/').catch(() => null);
    if (health !== null && (JSON.parse(health.body) as { last_sync?: unknown }).last_sync) return true;
    await sleep(200);
  }
  return false;
}

async function tableOf(sb: Sandbox, dbPath: string, port: number): Promise<string[]> {
  const files = readdirSync(join(sb.hostRoot, 'etc', 'netplan')).sort();
  const [links, states] = await Promise.all([sb.links(), agentStates(port)]);
  return nodeTable({ links, rows: readRows(dbPath), files, states, primary: PRIMARY_NIC.name });
}

/** The agent's state per row id, from its health JSON; empty while it does not answer. */
async function agentStates(port: number): Promise<Map<number, string>> {
  try {
    const health = JSON.parse((await getText(port, '/')).body) as {
      interfaces?: { id: number; state: string }[];
    };
    return new Map((health.interfaces ?? []).map((entry) => [entry.id, entry.state]));
  } catch {
    return new Map();
  }
}

function readRows(dbPath: string): StatusRow[] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare(
        'SELECT id, macaddress, netplan_success FROM multi_interface' +
          ' WHERE deleted_at IS NULL AND attached_node_name = ? ORDER BY id',
      )
      .all(DEMO_NODE) as StatusRow[];
  } finally {
    db.close();
  }
}

/** Listens on this machine's 127.0.0.1:port (another free port when it is taken) and forwards to socket. */
async function listenLocal(port: number, socket: string, out: (line: string) => void): Promise<Server> {
  const listen = (p: number) =>
    new Promise<Server>((resolve, reject) => {
      const server = createServer((client) => pipeBoth(client, connect(socket)));
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => resolve(server));
    });
  try {
    return await listen(port);
  } catch (err) {
    if (port === 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    out(`(port ${port} is taken on this machine: serving health and metrics on another one)`);
    return listen(0);
  }
}

function getText(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, timeout: 2_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

async function printEndpoints(port: number, out: (line: string) => void): Promise<void> {
  const base = `http://127.0.0.1:${port}`;
  const health = await getText(port, '/');
  const h = JSON.parse(health.body) as Record<string, unknown>;
  const summary = ['status', 'processed_vms', 'failed_configs', 'database_connected']
    .map((key) => `${key}=${String(h[key])}`)
    .join(' ');
  out(`GET ${base}/ → ${health.status}  ${summary}`);
  for (const path of ['/healthz', '/readyz'])
    out(`GET ${base}${path} → ${(await getText(port, path)).status}`);
  const metrics = await getText(port, '/metrics');
  out(`GET ${base}/metrics → ${metrics.status}`);
  metrics.body
    .split('\n')
    .filter((line) => /^multinic_(interfaces_processed_total|db_connection_status)\b/.test(line))
    .forEach((line) => out(`  ${line}`));
}

function printInstructions(dbPath: string, port: number, out: (line: string) => void): void {
  out('');
  out('Edit the rows in another terminal (as root) and watch the agent follow, e.g.:');
  for (const command of editCommands(dbPath)) out(`  ${command}`);
  out(`Health and metrics: curl http://127.0.0.1:${port}/  curl http://127.0.0.1:${port}/metrics`);
  out('Ctrl-C stops the agent and removes the simulated node.');
}

/** Waits up to ms; true when the user stopped the demo meanwhile. */
async function stoppedWithin(stopped: Promise<void>, ms: number): Promise<boolean> {
  return Promise.race([stopped.then(() => true), sleep(ms).then(() => false)]);
}

async function stopAgent(agent: SandboxProcess): Promise<void> {
  if (agent.child.exitCode !== null || agent.child.signalCode !== null) return;
  await agent.signal('SIGTERM').catch(() => undefined);
  await Promise.race([agent.done, sleep(STOP_TIMEOUT_MS)]);
}
