// `multinic-agent demo` as root: the shipped CLI (compiled from the current sources) makes a sandbox with
// virtual NICs, runs the real agent in it on the embedded store, and prints the node. Asserted: the printed
// tables (read by the demo from the kernel and the store), the agent's health and metrics on this
// machine's localhost, following a row edit made with `rows`, and that neither Ctrl-C nor kill -9 of the
// demo leaves a directory, a process or a network change behind.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { get } from 'node:http';
import { beforeAll, expect, it } from 'vitest';
import { agentCli } from '../sandbox/agent.js';
import { describeSandbox } from '../sandbox/support.js';
import { processesMentioning } from '../support/processes.js';

let cli: string;

/** This machine's links (names and MACs): a demo must leave them exactly as they were. */
function hostLinks(): string[] {
  const links = JSON.parse(spawnSync('ip', ['-j', 'link'], { encoding: 'utf8' }).stdout) as {
    ifname: string;
    address?: string;
  }[];
  return links.map((link) => `${link.ifname} ${link.address ?? ''}`).sort();
}

function sandboxDir(output: string): string {
  const dir = /simulated node demo-node in a sandbox \((\/\S+)\)/.exec(output)?.[1];
  expect(dir, output).toBeDefined();
  return dir ?? '';
}

function localPort(output: string): number {
  const port = /health and metrics: http:\/\/127\.0\.0\.1:(\d+)\//.exec(output)?.[1];
  expect(port, output).toBeDefined();
  return Number(port);
}

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

async function until(check: () => boolean, what: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** `demo` running in the background, its output collected. */
function startDemo(): {
  child: ChildProcessWithoutNullStreams;
  output: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, [cli, 'demo', '--port', '0'], { env: { PATH: process.env.PATH } });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function expectNothingLeft(dir: string, linksBefore: string[]): Promise<void> {
  await until(
    () => !existsSync(dir) && processesMentioning(dir).length === 0,
    () => `${dir} exists: ${existsSync(dir)}; processes: ${processesMentioning(dir).join(' | ')}`,
    10_000,
  );
  expect(hostLinks()).toEqual(linksBefore);
}

describeSandbox('multinic-agent demo as root (a sandbox with real systemd-networkd)', () => {
  beforeAll(async () => {
    cli = await agentCli();
  }, 120_000);

  it('--once configures the three NICs, serves health and metrics on localhost, and removes everything', async () => {
    const linksBefore = hostLinks();
    const result = spawnSync(process.execPath, [cli, 'demo', '--once', '--port', '0'], {
      env: { PATH: process.env.PATH },
      encoding: 'utf8',
      timeout: 90_000,
    });
    expect(result.stderr).toBe('');
    expect(result.status, result.stdout).toBe(0);
    const lines = result.stdout.split('\n');
    // Before: the kernel's names, no addresses; after: renamed by MAC, addresses and MTUs as the rows say.
    expect(lines).toEqual(
      expect.arrayContaining([
        '  NIC   MAC                ADDRESS            MTU   FILE  ROW  STATUS',
        '  eth0  fa:16:3e:ff:ff:00  192.168.100.10/24  1500  -     -    primary, never touched',
        '  ens5  fa:16:3e:00:00:02  -                  1500  -     2    not configured (0)',
        '  NIC        MAC                ADDRESS            MTU   FILE               ROW  STATUS',
        '  eth0       fa:16:3e:ff:ff:00  192.168.100.10/24  1500  -                  -    primary, never touched',
        '  multinic0  fa:16:3e:00:00:01  10.10.0.11/24      1500  90-multinic0.yaml  1    configured (1)',
        '  multinic1  fa:16:3e:00:00:02  10.20.0.11/24      9000  91-multinic1.yaml  2    configured (1)',
        '  multinic2  fa:16:3e:00:00:03  -                  1500  92-multinic2.yaml  3    configured (1)',
        '  multinic_interfaces_processed_total{status="success"} 3',
        '  multinic_interfaces_processed_total{status="failed"} 0',
        '  multinic_db_connection_status 1',
      ]),
    );
    expect(result.stdout).toMatch(
      /GET http:\/\/127\.0\.0\.1:\d+\/ → 200 {2}status=healthy processed_vms=3 failed_configs=0 database_connected=true/,
    );
    expect(result.stdout).toMatch(/\/healthz → 200\n.*\/readyz → 200/);
    expect(result.stdout).toContain(
      'agent: info  interface configured  interface_id=2  interface_name=multinic1',
    );
    const dir = sandboxDir(result.stdout);
    expect(result.stdout).toContain(`demo over: agent and sandbox stopped, ${dir} removed`);
    await expectNothingLeft(dir, linksBefore);
    // The README's "Try it" shows this output: its tables must stay what the demo prints.
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const line of lines.filter((l) => / (eth0|ens\d|multinic\d) +fa:16:3e/.test(l)))
      expect(readme).toContain(line);
  }, 120_000);

  it('follows row edits made with `rows` (refusing the primary NIC), serves health meanwhile, and Ctrl-C leaves nothing behind', async () => {
    const linksBefore = hostLinks();
    const demo = startDemo();
    try {
      await until(() => demo.output().includes('Ctrl-C stops the agent'), demo.output);
      const dir = sandboxDir(demo.output());
      const db = /--db (sqlite:\S+) rows set 1/.exec(demo.output())?.[1] ?? '';
      // Printed for a root shell (no SUDO_USER here): no sudo, which a root Debian often lacks.
      expect(demo.output()).toMatch(/^ {2}node \/\S+\/cli\.js --db sqlite:\S+ rows delete 3$/m);
      expect(demo.output()).not.toMatch(/^ {2}sudo /m);
      const rows = (...args: string[]) =>
        spawnSync(process.execPath, [cli, '--db', db, 'rows', ...args], {
          env: { PATH: process.env.PATH, NODE_NAME: 'demo-node' },
          encoding: 'utf8',
        });
      expect(rows('set', '1', '--mtu', '9000', '--address', '10.10.0.12').stdout).toBe('changed row 1\n');
      expect(rows('delete', '3').stdout).toBe('deleted row 3\n');
      // A row for a NIC not attached yet, and a row that points at the primary NIC (eth0).
      const add = (mac: string, net: string) =>
        rows('add', '--node', 'demo-node', '--mac', mac, '--address', `${net}.5`, '--cidr', `${net}.0/24`);
      expect(add('fa:16:3e:00:00:09', '10.40.0').stdout).toBe('added row 4 for node demo-node\n');
      expect(add('fa:16:3e:ff:ff:00', '10.30.0').stdout).toBe('added row 5 for node demo-node\n');
      // The agent applies the change on its next cycle, removes row 3's configuration one cycle after it
      // first sees it gone, waits for row 4's NIC and refuses row 5; the demo prints the node as it changes.
      const expected = [
        /eth0 +fa:16:3e:ff:ff:00 +192\.168\.100\.10\/24 +1500 +- +5 +not configured \(0\), protected/,
        /multinic0 +fa:16:3e:00:00:01 +10\.10\.0\.12\/24 +9000 +90-multinic0\.yaml +1 +configured \(1\)/,
        /multinic2 +fa:16:3e:00:00:03 +- +1500 +- +- +no row/,
        /- +fa:16:3e:00:00:09 +- +- +- +4 +not configured \(0\), waiting/,
      ];
      await until(() => expected.every((line) => line.test(demo.output())), demo.output);
      expect(demo.output()).toContain('agent: info  interface configured  interface_id=1');
      expect(demo.output()).toMatch(
        /agent: error\s+interface row not configured\s+interface_id=5\s.*field=macaddress/,
      );
      // eth0 kept its address (the table above): a row naming the primary NIC changes nothing.
      const health = await httpGet(localPort(demo.output()), '/');
      expect(health.status).toBe(200);
      const body = JSON.parse(health.body) as { status: string; interfaces: { id: number; state: string }[] };
      expect(body.interfaces.map((i) => [i.id, i.state])).toEqual([
        [1, 'configured'],
        [2, 'configured'],
        [4, 'waiting'],
        [5, 'protected'],
      ]);
      expect(body.status).toBe('degraded');

      demo.child.kill('SIGINT');
      expect(await demo.exited).toBe(0);
      expect(demo.output()).toContain(`${dir} removed`);
      await expectNothingLeft(dir, linksBefore);
    } finally {
      demo.child.kill('SIGKILL');
    }
  }, 120_000);

  it('killed with -9, the demo still takes its sandbox and the agent with it', async () => {
    const linksBefore = hostLinks();
    const demo = startDemo();
    try {
      await until(() => demo.output().includes('Ctrl-C stops the agent'), demo.output);
      const dir = sandboxDir(demo.output());
      expect(processesMentioning(dir).length).toBeGreaterThan(0);
      demo.child.kill('SIGKILL');
      await demo.exited;
      await expectNothingLeft(dir, linksBefore);
    } finally {
      demo.child.kill('SIGKILL');
    }
  }, 120_000);
});
