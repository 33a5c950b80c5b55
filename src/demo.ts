/**
 * `multinic-agent demo`, files only: a simulated node in a temp directory (a host root with netplan's
 * directory, a fake sysfs with three secondary NICs and the primary eth0), an embedded store seeded with
 * rows for it, and the agent's plan for that node, printed again whenever the rows change. Nothing on the
 * real machine is read or written but the temp directory, which Ctrl-C removes. The rooted demo (virtual
 * NICs and a real systemd-networkd in a sandbox) is not implemented yet.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { loadConfig } from './config.js';
import { describePlan } from './commands.js';
import { initialState, observe } from './agent/cycle.js';
import { plan } from './core/plan.js';
import { createLogger } from './log.js';
import { buildAgent, type Agent } from './main.js';
import { runRows } from './rows.js';
import { createSqliteDatabase } from './store/sqlite.js';

const NODE = 'demo-node';
const NICS = [
  { name: 'ens4', mac: 'fa:16:3e:00:00:01' },
  { name: 'ens5', mac: 'fa:16:3e:00:00:02' },
  { name: 'ens6', mac: 'fa:16:3e:00:00:03' },
];

export interface DemoOptions {
  /** Print once and clean up (tests, CI); otherwise watch until stopped. */
  once: boolean;
  out: (line: string) => void;
  /** Resolves when the user stops the demo (Ctrl-C). */
  stopped: Promise<void>;
}

export async function runDemo(options: DemoOptions): Promise<number> {
  const { out } = options;
  const dir = mkdtempSync(join(tmpdir(), 'multinic-demo-'));
  let agent: Agent | undefined;
  try {
    const hostRoot = makeHost(dir);
    const dbPath = join(dir, 'multinic.db');
    await seed(dbPath);
    const loaded = loadConfig({
      env: {
        DB_URL: `sqlite:${dbPath}`,
        NODE_NAME: NODE,
        HOST_ROOT: hostRoot,
        COMMAND_PREFIX: '',
        OS_TYPE: 'netplan',
        SYS_CLASS_NET: join(hostRoot, 'sys', 'class', 'net'),
        PROC_NET_ROUTE: join(hostRoot, 'proc', 'net', 'route'),
      },
      readFile: () => '',
      hostname: () => NODE,
    });
    if (!loaded.ok) throw new Error(loaded.errors.join('; '));
    agent = await buildAgent(loaded.config, createLogger('error'));
    if (process.getuid?.() === 0)
      out(
        '(as root too this is the files-only demo: the sandbox demo with real NICs is not implemented yet)',
      );
    out(`multinic-agent demo (files only, no root needed): simulated node ${NODE} in ${dir}`);
    out(
      `NICs on the node: eth0 (primary, never touched), ${NICS.map((n) => `${n.name} ${n.mac}`).join(', ')}`,
    );
    out('');
    out('desired state (the embedded store):');
    for (const line of (await runRows(['list'], loaded.config.db, NODE)).out) out(`  ${line}`);
    out('');
    out('what the agent would do on this node (plan):');
    let previous = await planLines(agent);
    for (const line of previous) out(`  ${line}`);
    if (options.once) return 0;
    out('');
    out('Edit the rows in another terminal and watch the plan follow, e.g.:');
    out(`  DB_URL=sqlite:${dbPath} NODE_NAME=${NODE} npx multinic-agent rows set 1 --mtu 9000`);
    out(`  DB_URL=sqlite:${dbPath} NODE_NAME=${NODE} npx multinic-agent rows delete 3`);
    out('Ctrl-C stops the demo and removes the simulated node.');
    let stopped = false;
    void options.stopped.then(() => (stopped = true));
    while (!stopped) {
      await Promise.race([options.stopped, new Promise((resolve) => setTimeout(resolve, 1_000))]);
      if (stopped) break;
      const lines = await planLines(agent);
      if (lines.join('\n') === previous.join('\n')) continue;
      previous = lines;
      out('');
      out(`plan changed (${new Date().toISOString()}):`);
      for (const line of lines) out(`  ${line}`);
    }
    return 0;
  } finally {
    await agent?.close();
    rmSync(dir, { recursive: true, force: true });
    out('');
    out(`demo over: ${dir} removed`);
  }
}

async function planLines(agent: Agent): Promise<string[]> {
  try {
    const rows = await agent.deps.store.rowsForNode(agent.deps.nodeName);
    return describePlan(plan(rows, await observe(agent.deps, initialState())));
  } catch (err) {
    return [`cannot read the desired state, the host is kept as it is: ${String(err)}`];
  }
}

function makeHost(dir: string): string {
  const root = join(dir, 'host');
  for (const sub of ['etc/netplan', 'var/lib/multinic', 'proc/net'])
    mkdirSync(join(root, sub), { recursive: true });
  writeFileSync(
    join(root, 'etc', 'os-release'),
    'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n',
  );
  writeFileSync(
    join(root, 'proc', 'net', 'route'),
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' +
      'eth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n',
  );
  for (const nic of [{ name: 'eth0', mac: 'fa:16:3e:ff:ff:00' }, ...NICS]) {
    const link = join(root, 'sys', 'class', 'net', nic.name);
    mkdirSync(link, { recursive: true });
    writeFileSync(join(link, 'type'), '1\n');
    writeFileSync(join(link, 'address'), `${nic.mac}\n`);
    writeFileSync(join(link, 'mtu'), '1500\n');
  }
  return root;
}

async function seed(path: string): Promise<void> {
  await createSqliteDatabase(path);
  const db = new Database(path);
  try {
    const insert = db.prepare(
      'INSERT INTO multi_interface (port_id, subnet_id, macaddress, attached_node_name, address, cidr, mtu)' +
        ' VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    insert.run('port-1', 'subnet-a', NICS[0]?.mac, NODE, '10.10.0.11', '10.10.0.0/24', 1500);
    insert.run('port-2', 'subnet-b', NICS[1]?.mac, NODE, '10.20.0.11', '10.20.0.0/24', 9000);
    insert.run('port-3', 'subnet-c', NICS[2]?.mac, NODE, null, null, 1500);
  } finally {
    db.close();
  }
}
