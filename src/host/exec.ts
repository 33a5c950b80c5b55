/**
 * The one place where the agent spawns processes. No shell, ever: argv goes to spawn(file, args) as is.
 * Every child runs in its own process group so that a timeout or shutdown kills its descendants too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { AgentError } from '../core/errors.js';

export interface CommandResult {
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  timeoutMs?: number;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A command started with {@link CommandRunner.start}. */
export interface LongRunning {
  readonly pid: number;
  /**
   * Sends a signal to the child's whole process group. Behind `nsenter -p` the payload is a child of
   * nsenter, so signalling the group is what makes the signal reach it (nsenter gets it too).
   */
  signal(sig: NodeJS.Signals): void;
  /** Settles when the process has exited; rejects with `command_failed` only when it could not start. */
  readonly exited: Promise<Exit>;
}

export interface CommandRunner {
  /** Runs to completion; non-zero exit → `command_failed`, timeout → `command_timeout`. */
  run(argv: readonly string[], opts?: RunOptions): Promise<CommandResult>;
  /** Starts a command that keeps running (e.g. `netplan try`); its stdin is a pipe kept open until it exits. */
  start(argv: readonly string[]): LongRunning;
  /** Processes spawned so far (asserted by tests: 0 in steady state). */
  readonly spawned: number;
  /** Refuses new commands, then terminates every running child (SIGTERM, SIGKILL after the grace). */
  close(): Promise<void>;
}

export interface RunnerOptions {
  /** Prepended to every argv, e.g. `['nsenter', '-t', '1', '-m', '-u', '-i', '-n', '-p', '--']`. */
  prefix: readonly string[];
  defaultTimeoutMs: number;
  env?: NodeJS.ProcessEnv;
  /** Time between SIGTERM and SIGKILL. Default 2000 ms. */
  killGraceMs?: number;
  /** Captured bytes per stream; the rest is dropped. Default 1 MiB. */
  maxOutputBytes?: number;
}

const DEFAULT_GRACE_MS = 2_000;
const DEFAULT_MAX_OUTPUT = 1024 * 1024;
/** After the child exits, how long a grandchild that escaped the group may keep its stdio open. */
const STDIO_DRAIN_MS = 1_000;
const MAX_DELAY_MS = 2_147_483_647;
const TRUNCATED = '\n[output truncated]';

/** Every child of every runner; the exit hook kills what is left if the agent dies without close(). */
const allChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Creates a runner that spawns `prefix + argv` with the given defaults. */
export function createRunner(options: RunnerOptions): CommandRunner {
  checkDelay('defaultTimeoutMs', options.defaultTimeoutMs);
  const grace = checkDelay('killGraceMs', options.killGraceMs ?? DEFAULT_GRACE_MS);
  const cap = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  const running = new Set<Tracked>();
  let spawned = 0;
  let closed = false;

  function launch(argv: readonly string[], stdin: 'ignore' | 'pipe'): Tracked {
    if (closed) throw new AgentError('command_failed', 'runner is closed', { command: argv.join(' ') });
    const full = [...options.prefix, ...argv];
    const [file, ...args] = full;
    if (file === undefined) throw new AgentError('command_failed', 'empty command', { command: '' });
    spawned += 1;
    const child = spawn(file, args, {
      stdio: [stdin, 'pipe', 'pipe'],
      detached: true,
      env: options.env ?? process.env,
    });
    const tracked = track(child, cap, grace);
    running.add(tracked);
    void tracked.done.then(() => running.delete(tracked));
    return tracked;
  }

  return {
    get spawned() {
      return spawned;
    },
    async run(argv, opts = {}) {
      const timeoutMs = checkDelay('timeoutMs', opts.timeoutMs ?? options.defaultTimeoutMs);
      const tracked = launch(argv, 'ignore');
      const timer = setTimeout(() => tracked.terminate('timeout'), timeoutMs);
      const outcome = await tracked.done;
      clearTimeout(timer);
      return toResult(argv, outcome, timeoutMs);
    },
    start(argv) {
      const tracked = launch(argv, 'pipe');
      const exited = tracked.done.then((outcome) => {
        if (outcome.spawnError) throw spawnFailure(argv, outcome);
        return outcome.exit;
      });
      // Rejection is delivered to whoever awaits `exited`; never an unhandled rejection meanwhile.
      exited.catch(() => undefined);
      return {
        pid: tracked.child.pid ?? -1,
        signal: (sig) => tracked.signal(sig),
        exited,
      };
    },
    async close() {
      closed = true;
      const pending = [...running];
      for (const t of pending) t.terminate('close');
      await Promise.all(pending.map((t) => t.done));
    },
  };
}

/** Kills (SIGKILL) every child still running, synchronously; for last-resort shutdown paths. */
export function killAllChildren(): void {
  for (const child of allChildren) signalGroup(child, 'SIGKILL');
}

interface Outcome {
  exit: Exit;
  spawnError: Error | null;
  terminatedBy: 'timeout' | 'close' | null;
}

interface Tracked {
  child: ChildProcess;
  done: Promise<Outcome>;
  terminate(reason: 'timeout' | 'close'): void;
  signal(sig: NodeJS.Signals): void;
}

function track(child: ChildProcess, cap: number, grace: number): Tracked {
  allChildren.add(child);
  installExitHook();
  const stdout = capture(child.stdout, cap);
  const stderr = capture(child.stderr, cap);
  let spawnError: Error | null = null;
  let terminatedBy: Outcome['terminatedBy'] = null;
  let killTimer: NodeJS.Timeout | undefined;
  let drainTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const done = new Promise<Outcome>((resolve) => {
    child.on('error', (err) => {
      // Also emitted when a signal cannot be delivered; only a failed spawn has no pid.
      if (child.pid === undefined) spawnError = err;
    });
    child.on('exit', () => {
      let swept = false;
      const drain = () => {
        // Stdio still open after the leader died: a grandchild holds it, so the group still exists
        // (its id cannot have been reused). A terminated command leaves nothing behind; its pipes
        // close once the kill has landed.
        if (terminatedBy !== null && !swept) {
          swept = true;
          signalGroup(child, 'SIGKILL');
        } else {
          child.stdout?.destroy();
          child.stderr?.destroy();
          return;
        }
        drainTimer = setTimeout(drain, STDIO_DRAIN_MS).unref();
      };
      drainTimer = setTimeout(drain, STDIO_DRAIN_MS).unref();
    });
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(killTimer);
      clearTimeout(drainTimer);
      closed = true;
      allChildren.delete(child);
      const exit = { code: spawnError ? null : code, signal, stdout: stdout(), stderr: stderr() };
      resolve({ exit, spawnError, terminatedBy });
    });
  });

  function terminate(reason: 'timeout' | 'close'): void {
    // The leader may have exited while a grandchild still holds its stdio: signal the group anyway.
    if (terminatedBy !== null || closed) return;
    terminatedBy = reason;
    signalGroup(child, 'SIGTERM');
    killTimer = setTimeout(() => signalGroup(child, 'SIGKILL'), grace);
  }

  // Once the group is reaped its id may be reused: never signal after 'close'.
  const signal = (sig: NodeJS.Signals) => {
    if (!closed) signalGroup(child, sig);
  };
  return { child, done, terminate, signal };
}

function toResult(argv: readonly string[], outcome: Outcome, timeoutMs: number): CommandResult {
  const { exit } = outcome;
  const command = argv.join(' ');
  if (outcome.spawnError) throw spawnFailure(argv, outcome);
  if (outcome.terminatedBy === 'timeout') {
    throw new AgentError('command_timeout', `${command}: timed out after ${timeoutMs} ms`, {
      command,
      timeoutMs,
      stdout: exit.stdout,
      stderr: exit.stderr,
    });
  }
  if (exit.code !== 0) {
    const how = exit.code === null ? `killed by ${exit.signal ?? 'a signal'}` : `exited with ${exit.code}`;
    throw new AgentError('command_failed', `${command}: ${how}`, {
      command,
      exitCode: exit.code,
      signal: exit.signal,
      stdout: exit.stdout,
      stderr: exit.stderr,
    });
  }
  return { stdout: exit.stdout, stderr: exit.stderr };
}

function spawnFailure(argv: readonly string[], outcome: Outcome): AgentError {
  const command = argv.join(' ');
  const reason = outcome.spawnError?.message ?? 'spawn failed';
  return new AgentError(
    'command_failed',
    `${command}: could not start: ${reason}`,
    { command, exitCode: null, stdout: '', stderr: '' },
    outcome.spawnError,
  );
}

/** Collects a stream up to `cap` bytes; decoding happens once at the end so no character is split. */
function capture(stream: NodeJS.ReadableStream | null, cap: number): () => string {
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  stream?.on('data', (chunk: Buffer) => {
    const room = cap - size;
    if (room <= 0) {
      truncated = true;
      return;
    }
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    truncated ||= kept.length < chunk.length;
    chunks.push(kept);
    size += kept.length;
  });
  return () => Buffer.concat(chunks).toString('utf8') + (truncated ? TRUNCATED : '');
}

function signalGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    // detached: true made the child a group leader, so -pid is its group (grandchildren included).
    process.kill(-child.pid, sig);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/** setTimeout turns a delay beyond 2^31-1 ms (or NaN) into 1 ms: refuse it rather than kill at once. */
function checkDelay(name: string, ms: number): number {
  if (!Number.isInteger(ms) || ms <= 0 || ms > MAX_DELAY_MS) {
    throw new AgentError('config', `${name} must be an integer from 1 to ${MAX_DELAY_MS}, got ${ms}`);
  }
  return ms;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', killAllChildren);
}
