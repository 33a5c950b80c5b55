/**
 * A throw-away machine made of Linux namespaces, with virtual NICs and, on demand, a real systemd-networkd
 * or NetworkManager: what `multinic-agent demo` runs the agent in as root, and what the end-to-end tests
 * prove the agent in. Its scripts live in the package's sandbox/ directory.
 */
import { spawn, type ChildProcess, type StdioNull, type StdioPipe } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { packageFile } from '../package-files.js';
import { parseIpAddr, type Link } from './ip-links.js';

/** The package's sandbox/ directory: init.sh, add-nic.sh, network-manager.sh, bin/. */
export const scriptDir = packageFile(import.meta.url, 'sandbox');
const initScript = join(scriptDir, 'init.sh');
const addNicScript = join(scriptDir, 'add-nic.sh');

/** The stand-ins (systemctl, udevadm, networkctl), first on PATH for every command run in a sandbox. */
export const standInDir = join(scriptDir, 'bin');

/** Where the stand-ins log their calls, one line per call (`systemctl restart systemd-networkd.service`). */
export const callsLog = '/run/sandbox/calls.log';

const sandboxEnv = {
  PATH: `${standInDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
  TMPDIR: '/run/sandbox/tmp',
};

const startTimeoutMs = 10_000;

/** A virtual NIC: a veth `name` with MAC `mac`, whose peer `p-<name>` is up. */
export interface Nic {
  name: string;
  mac: string;
}

export interface SandboxOptions {
  nics?: Nic[];
  /** The sandbox's hostname (it has its own UTS namespace). */
  hostname?: string;
  /**
   * Also run NetworkManager 1.42 (keyfile plugin) on a private D-Bus system bus, started after the NICs.
   * `hostRoot/etc/NetworkManager` is then the sandbox's /etc/NetworkManager (keyfiles in
   * `system-connections`), and the systemctl stand-in restarts NetworkManager when asked.
   */
  networkManager?: boolean;
  /** Extra NetworkManager settings (INI text), as `/etc/NetworkManager/conf.d/sandbox.conf`. */
  networkManagerConf?: string;
}

export interface ExecResult {
  /** Exit code; 128 + signal number when the process was killed by a signal, as in a shell. */
  code: number;
  stdout: string;
  stderr: string;
}

export interface SpawnOptions {
  /** Added to the environment (process.env, PATH with the stand-ins first, TMPDIR in the sandbox's /run). */
  env?: Record<string, string>;
  /** Working directory inside the sandbox; defaults to this process's. */
  cwd?: string;
  /** 'pipe' (default) keeps stdin open until you end it; 'ignore' gives /dev/null. */
  stdin?: StdioPipe | StdioNull;
  /** false: start from an empty environment rather than this process's (the demo's agent). */
  inheritEnv?: boolean;
}

export interface ExecOptions extends Omit<SpawnOptions, 'stdin'> {
  /** Written to stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string;
}

/** A process running inside a sandbox. */
export interface SandboxProcess {
  /** The nsenter process outside the sandbox; its stdio is the inner process's. */
  readonly child: ChildProcess;
  /** Ends when the process does, with its exit code and all its output. */
  readonly done: Promise<ExecResult>;
  /** Signals the process inside (nsenter 2.38 does not forward signals, so `child.kill` would not). */
  signal(signal: NodeJS.Signals): Promise<void>;
}

/**
 * A throw-away machine: its own network, mount, pid and UTS namespaces, with its own /run, sysfs,
 * /etc/netplan and /var/lib/multinic. Get one from startSandbox(); always stop() it.
 */
export class Sandbox {
  /** Outside view of the sandbox's private host root: `etc/netplan`, `var/lib/multinic`. */
  readonly hostRoot: string;
  private stopping: Promise<void> | undefined;

  constructor(
    /** Pid (outside) of the sandbox's PID 1. */
    readonly pid: number,
    /** The temporary directory holding hostRoot; deleted by stop(). */
    readonly dir: string,
    private readonly unshare: ChildProcess,
    private readonly unshareExit: Promise<void>,
  ) {
    this.hostRoot = join(dir, 'root');
  }

  /** Runs argv inside the sandbox. Never rejects on a non-zero exit: check `code`. */
  exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const { input, ...rest } = options;
    const proc = this.spawn(argv, { ...rest, stdin: input === undefined ? 'ignore' : 'pipe' });
    if (input !== undefined) proc.child.stdin?.end(input);
    return proc.done;
  }

  /** Like exec, but rejects with the command's stderr when it exits non-zero. */
  async execOk(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const result = await this.exec(argv, options);
    if (result.code !== 0) {
      throw new Error(`${argv.join(' ')} exited ${result.code}: ${result.stderr.trim()}`);
    }
    return result;
  }

  /** Starts a long-lived process inside the sandbox (the agent, `netplan try`). */
  spawn(argv: string[], options: SpawnOptions = {}): SandboxProcess {
    const cwd = options.cwd ?? process.cwd();
    const nsenter = ['-t', String(this.pid), '--net', '--mount', '--pid', '--uts', `--wdns=${cwd}`, '--'];
    const child = spawn('nsenter', [...nsenter, ...argv], {
      env: { ...(options.inheritEnv === false ? {} : process.env), ...sandboxEnv, ...options.env },
      stdio: [options.stdin ?? 'pipe', 'pipe', 'pipe'],
    });
    return { child, done: collect(child), signal: (signal) => signalInner(child, signal) };
  }

  /** The sandbox's links, parsed from `ip -j addr`. */
  async links(): Promise<Link[]> {
    return parseIpAddr((await this.execOk(['ip', '-j', 'addr'])).stdout);
  }

  /** Hot-plugs a NIC, as OpenStack attaching a port to a running VM. */
  async addNic(nic: Nic): Promise<void> {
    checkNic(nic);
    await this.execOk([addNicScript, nic.name, nic.mac]);
  }

  /** Outside path of a file as the sandbox sees it (through its mount namespace), e.g. `/run/...`. */
  outsidePath(insidePath: string): string {
    return `/proc/${this.pid}/root${insidePath}`;
  }

  /** The stand-in calls logged so far, oldest first. */
  async calls(): Promise<string[]> {
    const log = await readFile(this.outsidePath(callsLog), 'utf8');
    return log.split('\n').filter((line) => line !== '');
  }

  /** Kills every process of the sandbox and deletes its directory. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= this.teardown();
    return this.stopping;
  }

  private async teardown(): Promise<void> {
    this.unshare.stdin?.end();
    try {
      // Killing PID 1 makes the kernel kill everything else in the pid namespace.
      process.kill(this.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await this.unshareExit;
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Calls `each` with every complete, non-empty line of `stream` (a sandboxed process's stdout or stderr). */
export function forEachLine(stream: NodeJS.ReadableStream | null, each: (line: string) => void): void {
  let partial = '';
  stream?.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    lines.filter((line) => line.trim() !== '').forEach(each);
  });
}

/** Creates a sandbox with the given NICs, ready for exec() when the promise resolves. */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const nics = options.nics ?? [];
  nics.forEach(checkNic);
  const dir = await mkdtemp(join(tmpdir(), 'multinic-sandbox-'));
  await mkdir(join(dir, 'root/etc/netplan'), { recursive: true });
  await mkdir(join(dir, 'root/var/lib/multinic'), { recursive: true });
  if (options.networkManager === true) {
    await mkdir(join(dir, 'root/etc/NetworkManager/system-connections'), { recursive: true });
    await mkdir(join(dir, 'root/etc/NetworkManager/conf.d'), { recursive: true });
    if (options.networkManagerConf !== undefined) {
      await writeFile(join(dir, 'root/etc/NetworkManager/conf.d/sandbox.conf'), options.networkManagerConf);
    }
  }

  // stdin stays open for the sandbox's life: the init script exits when it closes, so a test process
  // that dies without stop() takes its sandbox with it.
  const args = unshareArgs(dir, options.hostname ?? 'multinic-sandbox', nics);
  const env = { ...process.env, SANDBOX_NETWORK_MANAGER: options.networkManager === true ? '1' : '' };
  const unshare = spawn('unshare', args, { stdio: ['pipe', 'pipe', 'pipe'], env });
  const unshareExit = new Promise<void>((resolve) => unshare.once('close', () => resolve()));
  try {
    await waitForReady(unshare);
    const pid = await firstChild(unshare.pid ?? 0);
    return new Sandbox(pid, dir, unshare, unshareExit);
  } catch (error) {
    unshare.stdin?.end();
    unshare.kill('SIGKILL'); // --kill-child takes the sandbox's PID 1 along
    await unshareExit;
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * The `unshare` arguments that start a sandbox's PID 1 on `dir` (which must hold `root/etc/netplan`
 * and `root/var/lib/multinic`). Exported for tests of the harness itself; use startSandbox().
 */
export function unshareArgs(dir: string, hostname: string, nics: Nic[]): string[] {
  return [
    '--net',
    '--mount',
    '--pid',
    '--fork',
    '--mount-proc',
    '--uts',
    '--kill-child',
    initScript,
    dir,
    hostname,
    ...nics.map((nic) => `${nic.name}=${nic.mac}`),
  ];
}

function checkNic(nic: Nic): void {
  // The peer is named p-<name>, and Linux interface names have at most 15 characters.
  if (!/^[a-zA-Z0-9_-]{1,13}$/.test(nic.name)) throw new Error(`bad NIC name for a sandbox: ${nic.name}`);
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(nic.mac)) throw new Error(`bad MAC address: ${nic.mac}`);
}

function waitForReady(unshare: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => fail('timed out'), startTimeoutMs);
    function fail(why: string): void {
      clearTimeout(timer);
      reject(new Error(`sandbox did not start (${why}): ${stderr.trim() || stdout.trim()}`));
    }
    unshare.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    unshare.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('READY\n')) {
        clearTimeout(timer);
        resolve();
      }
    });
    unshare.once('error', (error) => fail(error.message));
    unshare.once('exit', (code, signal) => fail(`exited ${code ?? signal}`));
  });
}

/** The first child of `pid`; unshare's forked child is the sandbox's PID 1. */
async function firstChild(pid: number): Promise<number> {
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
  const child = Number(children.trim().split(' ')[0]);
  if (!Number.isInteger(child) || child <= 0) throw new Error(`process ${pid} has no child`);
  return child;
}

function collect(child: ChildProcess): Promise<ExecResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      resolve({ code: code ?? 128 + (signal ? constants.signals[signal] : 0), stdout, stderr });
    });
  });
}

/** Signals the process nsenter started, once nsenter has forked and the child has exec'd. */
async function signalInner(nsenter: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  const outer = nsenter.pid;
  if (outer === undefined) throw new Error('process did not start');
  const nsenterExe = await readlink(`/proc/${outer}/exe`);
  for (let attempt = 0; attempt < 200; attempt++) {
    const inner = await firstChild(outer).catch(() => undefined);
    const exe = inner && (await readlink(`/proc/${inner}/exe`).catch(() => nsenterExe));
    if (inner && exe !== nsenterExe) {
      process.kill(inner, signal);
      return;
    }
    await sleep(10);
  }
  throw new Error(`no process inside the sandbox under nsenter ${outer}`);
}
