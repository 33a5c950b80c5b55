/**
 * Whether this machine can run a sandbox (src/demo/sandbox.ts), and if not, why: the rooted demo falls
 * back to the files-only one, and the end-to-end tests skip (or fail under CI) with this reason.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';

export interface SandboxSupport {
  ok: boolean;
  reason?: string;
}

const requiredFiles = ['/usr/sbin/netplan', '/lib/systemd/systemd-networkd', '/lib/netplan/generate'];
const requiredCommands = ['unshare', 'nsenter', 'ip', 'mount', 'setsid', 'bash'];
const networkManagerFiles = [
  '/usr/sbin/NetworkManager',
  '/usr/bin/nmcli',
  '/usr/bin/nm-online',
  '/usr/bin/dbus-daemon',
];

const probeArgs =
  '--net --mount --pid --fork --mount-proc --uts ip link add probe0 type veth peer name probe1'.split(' ');

let cached: SandboxSupport | undefined;

/** Whether this machine can run sandboxes (with netplan and systemd-networkd). Checked once per process. */
export function sandboxSupport(): SandboxSupport {
  cached ??= check();
  return cached;
}

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
