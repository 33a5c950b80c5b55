import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'vitest';

export interface SandboxSupport {
  ok: boolean;
  reason?: string;
}

const requiredFiles = ['/usr/sbin/netplan', '/lib/systemd/systemd-networkd', '/lib/netplan/generate'];
const requiredCommands = ['unshare', 'nsenter', 'ip', 'mount', 'setsid', 'bash'];

const probeArgs =
  '--net --mount --pid --fork --mount-proc --uts ip link add probe0 type veth peer name probe1'.split(' ');

let cached: SandboxSupport | undefined;

/** Whether this machine can run sandboxes, and if not, why. Checked once per test process. */
export function sandboxSupport(): SandboxSupport {
  cached ??= check();
  return cached;
}

function check(): SandboxSupport {
  if (process.platform !== 'linux') return { ok: false, reason: 'not Linux' };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'not root' };
  for (const file of requiredFiles) {
    if (!isExecutable(file)) {
      return { ok: false, reason: `${file} missing (apt-get install netplan.io systemd)` };
    }
  }
  for (const command of requiredCommands) {
    if (spawnSync('sh', ['-c', `command -v ${command}`]).status !== 0) {
      return { ok: false, reason: `${command} not on PATH (apt-get install util-linux iproute2)` };
    }
  }
  if (!existsSync(`/proc/${process.pid}/task/${process.pid}/children`)) {
    return { ok: false, reason: 'kernel without /proc/<pid>/task/<tid>/children' };
  }
  if (!readFileSync('/proc/filesystems', 'utf8').includes('overlay')) {
    return { ok: false, reason: 'kernel without overlayfs' };
  }
  // Everything a sandbox needs from the kernel, in a namespace that disappears when the command ends.
  const probe = spawnSync('unshare', probeArgs, { encoding: 'utf8', timeout: 10_000 });
  if (probe.status !== 0) {
    return { ok: false, reason: `unshare/veth failed: ${probe.stderr.trim() || String(probe.error)}` };
  }
  return { ok: true };
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * describe() for tests that need a sandbox. Without the prerequisites the suite is skipped with a
 * warning that says why, except on CI (CI=true), where it fails: CI must provide what its tests need.
 */
export function describeSandbox(name: string, body: () => void): void {
  describeWith(sandboxSupport(), name, body);
}

function describeWith(support: SandboxSupport, name: string, body: () => void): void {
  if (support.ok) {
    describe(name, body);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it('has what a sandbox needs', () => {
        throw new Error(`sandbox unavailable on CI: ${support.reason}`);
      });
    });
  } else {
    console.warn(`skipping "${name}": sandbox unavailable: ${support.reason}`);
    describe.skip(name, body);
  }
}

const networkManagerFiles = [
  '/usr/sbin/NetworkManager',
  '/usr/bin/nmcli',
  '/usr/bin/nm-online',
  '/usr/bin/dbus-daemon',
];

/** Whether this machine can run sandboxes with NetworkManager (startSandbox({ networkManager: true })). */
export function networkManagerSupport(): SandboxSupport {
  const base = sandboxSupport();
  if (!base.ok) return base;
  for (const file of networkManagerFiles) {
    if (!isExecutable(file))
      return { ok: false, reason: `${file} missing (apt-get install network-manager dbus)` };
  }
  return { ok: true };
}

/** describeSandbox() for tests that need NetworkManager in the sandbox: skipped (or failed on CI) without it. */
export function describeNetworkManagerSandbox(name: string, body: () => void): void {
  describeWith(networkManagerSupport(), name, body);
}
