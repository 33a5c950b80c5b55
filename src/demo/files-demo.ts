/**
 * `multinic-agent demo`, files only: a simulated node in a temp directory (a host root with netplan's
 * directory, a fake sysfs with three secondary NICs and the primary eth0), an embedded store seeded with
 * rows for it, and the agent's plan for that node, printed again whenever the rows change. Nothing on the
 * real machine is read or written but the temp directory, which Ctrl-C removes. Without root this is what
 * `multinic-agent demo` shows; as root, `demo --files-only`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config.js';
import { currentPlan, describePlan } from '../commands.js';
import { createLogger } from '../log.js';
import { buildAgent, type Agent } from '../main.js';
import { runRows } from '../rows.js';
import type { DemoOptions } from './demo.js';
import { DEMO_NICS as NICS, DEMO_NODE as NODE, editCommands, PRIMARY_NIC, seedStore } from './seed.js';

/** The files-only demo: the plan for a simulated node, printed again whenever the rows change. */
export async function runFilesDemo(options: DemoOptions): Promise<number> {
  const { out } = options;
  const dir = mkdtempSync(join(tmpdir(), 'multinic-demo-'));
  let agent: Agent | undefined;
  try {
    const hostRoot = makeHost(dir);
    const dbPath = join(dir, 'multinic.db');
    await seedStore(dbPath);
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
    for (const command of editCommands(dbPath)) out(`  ${command}`);
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
    return describePlan(await currentPlan(agent));
  } catch (err) {
    return [`cannot read the desired state, the host is kept as it is: ${String(err)}`];
  }
}

function makeHost(dir: string): string {
  const root = join(dir, 'host');
  makeUbuntuHostRoot(root);
  for (const nic of [PRIMARY_NIC, ...NICS]) {
    const link = join(root, 'sys', 'class', 'net', nic.name);
    mkdirSync(link, { recursive: true });
    writeFileSync(join(link, 'type'), '1\n');
    writeFileSync(join(link, 'address'), `${nic.mac}\n`);
    writeFileSync(join(link, 'mtu'), '1500\n');
  }
  return root;
}

/**
 * Makes `root` look like an Ubuntu node's host root: etc/netplan, var/lib/multinic, etc/os-release, and a
 * proc/net/route with eth0 holding the default route. (The integration harness uses it too.)
 */
export function makeUbuntuHostRoot(root: string): void {
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
}
