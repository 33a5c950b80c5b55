// The sandbox harness against the real netplan 0.106 and systemd-networkd 252: what the agent's
// end-to-end tests will rely on. Every outcome is read back from the kernel (`ip -j addr`).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseIpAddr, type Link } from '../sandbox/links.js';
import { startSandbox, unshareArgs, type Sandbox, type SandboxProcess } from '../sandbox/sandbox.js';
import { describeSandbox } from '../sandbox/support.js';
import { pidsInNamespaceOf } from '../support/processes.js';

const mac1 = 'fa:16:3e:00:00:01';
const mac2 = 'fa:16:3e:00:00:02';
const nics = [
  { name: 'eth1', mac: mac1 },
  { name: 'eth2', mac: mac2 },
];
const eventually = { timeout: 10_000, interval: 50 };

function multinic0(address: string, mtu: number): string {
  const nic = `{match: {macaddress: "${mac1}"}, set-name: multinic0, addresses: ["${address}"], mtu: ${mtu}}`;
  return `network: {version: 2, ethernets: {multinic0: ${nic}}}\n`;
}

async function writeNetplan(sb: Sandbox, yaml: string): Promise<void> {
  await writeFile(join(sb.hostRoot, 'etc/netplan/90-multinic0.yaml'), yaml, { mode: 0o600 });
}

async function linkWithMac(sb: Sandbox, mac: string): Promise<Link | undefined> {
  return (await sb.links()).find((link) => link.mac === mac);
}

/** Waits (at most 10 s) until the link with `mac` matches `expected`. */
async function eventuallyLink(sb: Sandbox, mac: string, expected: Partial<Link>): Promise<void> {
  await vi.waitFor(async () => expect(await linkWithMac(sb, mac)).toMatchObject(expected), eventually);
}

async function networkdRestarts(sb: Sandbox): Promise<number> {
  return (await sb.calls()).filter((call) => /^systemctl (re)?start .*systemd-networkd/.test(call)).length;
}

/** Applies multinic0 at 10.10.0.5/24, MTU 1400, and waits until the kernel shows it. */
async function applyBaseline(sb: Sandbox): Promise<void> {
  await writeNetplan(sb, multinic0('10.10.0.5/24', 1400));
  await sb.execOk(['netplan', 'apply']);
  await eventuallyLink(sb, mac1, { name: 'multinic0', mtu: 1400, ipv4: [{ ip: '10.10.0.5', prefix: 24 }] });
}

/** Starts `netplan try` with stdin a pipe kept open; resolves once it waits for confirmation. */
async function startTry(sb: Sandbox): Promise<{ proc: SandboxProcess; readyMs: number }> {
  const started = performance.now();
  const proc = sb.spawn(['netplan', 'try', '--timeout', '30']);
  // netplan installs its SIGUSR1/SIGINT handlers before applying: a signal sent before this stamp
  // exists would interrupt the apply half-way.
  await vi.waitFor(() => {
    expect(existsSync(sb.outsidePath('/run/netplan/netplan-try.ready'))).toBe(true);
  }, eventually);
  return { proc, readyMs: performance.now() - started };
}

function childOf(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ')[0]);
}

function killIfAlive(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone, as it should be
  }
}

describeSandbox('sandbox harness (real netplan, real systemd-networkd)', () => {
  describe('in a sandbox with eth1 and eth2', () => {
    let sb: Sandbox;
    beforeEach(async () => {
      sb = await startSandbox({ nics });
    });
    afterEach(async () => {
      await sb.stop();
    });

    it('shows the NICs with their MACs inside, and nothing of them on this machine', async () => {
      const inside = parseIpAddr((await sb.execOk(['ip', '-j', 'link'])).stdout);
      expect(inside).toContainEqual(expect.objectContaining({ name: 'eth1', mac: mac1 }));
      expect(inside).toContainEqual(expect.objectContaining({ name: 'eth2', mac: mac2 }));

      const outside = parseIpAddr(execFileSync('ip', ['-j', 'link'], { encoding: 'utf8' }));
      expect(outside.map((link) => link.mac)).not.toContain(mac1);
      expect(outside.map((link) => link.mac)).not.toContain(mac2);
      expect(outside.filter((link) => link.name.startsWith('multinic'))).toEqual([]);
    });

    it('netplan apply renames by MAC, sets MTU and address, and adds a changed address', async () => {
      await applyBaseline(sb);
      expect(await linkWithMac(sb, mac2)).toMatchObject({ name: 'eth2', ipv4: [] });
      const outside = parseIpAddr(execFileSync('ip', ['-j', 'addr'], { encoding: 'utf8' }));
      expect(outside.filter((link) => link.name.startsWith('multinic'))).toEqual([]);

      await writeNetplan(sb, multinic0('10.10.0.6/24', 1400));
      await sb.execOk(['netplan', 'apply']);
      // systemd-networkd adds the new address and KEEPS the old one: .5 stays next to .6. The agent
      // must delete a stale address itself (SPEC §6).
      await vi.waitFor(async () => {
        const link = await linkWithMac(sb, mac1);
        expect(link?.ipv4).toHaveLength(2);
        expect(link?.ipv4).toEqual(
          expect.arrayContaining([
            { ip: '10.10.0.5', prefix: 24 },
            { ip: '10.10.0.6', prefix: 24 },
          ]),
        );
      }, eventually);
      // Each apply restarts networkd once (networkctl reload fails without D-Bus; netplan falls back).
      expect(await networkdRestarts(sb)).toBe(2);
    });

    it('netplan try keeps the new configuration on SIGUSR1', async () => {
      await applyBaseline(sb);
      await writeNetplan(sb, multinic0('10.10.0.7/24', 1300));
      const { proc, readyMs } = await startTry(sb);
      await eventuallyLink(sb, mac1, { mtu: 1300 });

      const signalled = performance.now();
      await proc.signal('SIGUSR1');
      const result = await proc.done;
      console.log(
        `netplan try: waiting for confirmation after ${Math.round(readyMs)} ms,` +
          ` accepted ${Math.round(performance.now() - signalled)} ms after SIGUSR1`,
      );
      expect(result).toMatchObject({ code: 0 });
      expect(result.stdout).toContain('Configuration accepted.');
      expect(await linkWithMac(sb, mac1)).toMatchObject({ mtu: 1300 });
    });

    it('netplan try reverts on SIGINT: networkd goes back, /etc/netplan does not', async () => {
      await applyBaseline(sb);
      await writeNetplan(sb, multinic0('10.10.0.7/24', 1300));
      const { proc } = await startTry(sb);
      await eventuallyLink(sb, mac1, { mtu: 1300 });

      const signalled = performance.now();
      await proc.signal('SIGINT');
      const result = await proc.done;
      console.log(`netplan try: reverted ${Math.round(performance.now() - signalled)} ms after SIGINT`);
      expect(result).toMatchObject({ code: 0 });
      expect(result.stdout).toContain('Reverting.');
      await eventuallyLink(sb, mac1, { mtu: 1400 });
      // The revert restores netplan's output in /run, not the YAML: without --config-file, the tried
      // file stays in /etc/netplan. Rolling back the file is the agent's job.
      const rendered = await readFile(
        sb.outsidePath('/run/systemd/network/10-netplan-multinic0.network'),
        'utf8',
      );
      expect(rendered).toContain('Address=10.10.0.5/24');
      expect(await readFile(join(sb.hostRoot, 'etc/netplan/90-multinic0.yaml'), 'utf8')).toContain(
        '10.10.0.7/24',
      );
    });

    it('netplan try with stdin at end of file reverts at once', async () => {
      await applyBaseline(sb);
      await writeNetplan(sb, multinic0('10.10.0.7/24', 1300));
      const started = performance.now();
      const result = await sb.exec(['netplan', 'try', '--timeout', '30']); // stdin is /dev/null
      const tookMs = performance.now() - started;
      console.log(`netplan try with stdin /dev/null: reverted in ${Math.round(tookMs)} ms`);
      expect(result).toMatchObject({ code: 0 });
      expect(result.stdout).toContain('Reverting.');
      expect(tookMs).toBeLessThan(10_000); // far from the 30 s timeout
      await eventuallyLink(sb, mac1, { mtu: 1400 });
      expect(await networkdRestarts(sb)).toBe(3); // baseline, try, revert
    });

    it('netplan generate --root-dir rejects a non-numeric MTU with file:line:col', async () => {
      // A scratch root under /var/lib/multinic, named by its path inside the sandbox (SPEC §5).
      const scratch = '/var/lib/multinic/validate';
      const file = join(sb.hostRoot, scratch, 'etc/netplan/90-multinic0.yaml');
      await mkdir(join(sb.hostRoot, scratch, 'etc/netplan'), { recursive: true });

      await writeFile(file, multinic0('10.10.0.5/24', 1400), { mode: 0o600 });
      expect(await sb.exec(['netplan', 'generate', '--root-dir', scratch])).toMatchObject({ code: 0 });
      expect(existsSync(join(sb.hostRoot, scratch, 'run/systemd/network/10-netplan-multinic0.network'))).toBe(
        true,
      );

      await writeFile(file, multinic0('10.10.0.5/24', 1400).replace('mtu: 1400', 'mtu: "abc"'));
      const bad = await sb.exec(['netplan', 'generate', '--root-dir', scratch]);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/90-multinic0\.yaml:\d+:\d+: /);
    });

    it('keeps writes to /etc and /var/lib inside the sandbox', async () => {
      await sb.execOk([
        'sh',
        '-c',
        'echo probe > /etc/multinic-probe && echo probe > /var/lib/multinic-probe',
      ]);
      expect(existsSync(sb.outsidePath('/etc/multinic-probe'))).toBe(true);
      expect(existsSync('/etc/multinic-probe')).toBe(false);
      expect(existsSync('/var/lib/multinic-probe')).toBe(false);
    });

    it('hot-plugs a NIC', async () => {
      await sb.addNic({ name: 'eth5', mac: 'fa:16:3e:00:00:05' });
      expect(await sb.links()).toContainEqual(
        expect.objectContaining({ name: 'eth5', mac: 'fa:16:3e:00:00:05' }),
      );
    });
  });

  it('stop() leaves no process and no directory behind', async () => {
    const startedAt = performance.now();
    const sb = await startSandbox({ nics });
    const startMs = performance.now() - startedAt;
    let pids: number[];
    try {
      await applyBaseline(sb); // so that a networkd runs inside
      pids = pidsInNamespaceOf(sb.pid);
      expect(pids.length).toBeGreaterThanOrEqual(2);
    } finally {
      const stoppingAt = performance.now();
      await sb.stop();
      const stopMs = performance.now() - stoppingAt;
      console.log(`sandbox: started in ${Math.round(startMs)} ms, stopped in ${Math.round(stopMs)} ms`);
    }
    expect(pids.filter((pid) => existsSync(`/proc/${pid}`))).toEqual([]);
    expect(existsSync(sb.dir)).toBe(false);
  });

  it('a test process that dies without stop() takes its sandbox with it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'multinic-sandbox-'));
    await mkdir(join(dir, 'root/etc/netplan'), { recursive: true });
    await mkdir(join(dir, 'root/var/lib/multinic'), { recursive: true });
    // A stand-in for a test process: it starts a sandbox the way startSandbox() does, holding the
    // sandbox's stdin, and then gets SIGKILLed.
    const holder = `require('node:child_process').spawn('unshare', JSON.parse(process.argv[1]),
      { stdio: ['pipe', 'inherit', 'inherit'] }); setInterval(() => {}, 60000);`;
    const args = JSON.stringify(unshareArgs(dir, 'crash', nics));
    const testProcess = spawn(process.execPath, ['-e', holder, args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve) =>
      testProcess.stdout.on('data', (d: Buffer) => d.includes('READY') && resolve()),
    );
    const pid1 = childOf(childOf(testProcess.pid ?? 0));
    try {
      expect(existsSync(`/proc/${pid1}`)).toBe(true);
      testProcess.kill('SIGKILL');
      await vi.waitFor(() => {
        expect(existsSync(`/proc/${pid1}`)).toBe(false);
        expect(existsSync(dir)).toBe(false);
      }, eventually);
    } finally {
      killIfAlive(pid1); // only when the test failed
      await rm(dir, { recursive: true, force: true });
    }
  });
});
