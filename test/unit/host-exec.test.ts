import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AgentError } from '../../src/core/errors.js';
import { createRunner, type CommandRunner } from '../../src/host/exec.js';

const runners: CommandRunner[] = [];
const tempDirs: string[] = [];

function runner(
  prefix: readonly string[] = [],
  extra: { killGraceMs?: number; maxOutputBytes?: number } = {},
) {
  const r = createRunner({ prefix, defaultTimeoutMs: 10_000, ...extra });
  runners.push(r);
  return r;
}

afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.close()));
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function failure(promise: Promise<unknown>): Promise<AgentError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof AgentError)) throw new Error(`expected an AgentError, got ${String(err)}`);
  return err;
}

/** A zombie no longer runs: treat it as dead, as its reaping is up to its new parent. */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('run', () => {
  it('returns stdout and stderr of a successful command', async () => {
    const result = await runner().run(['sh', '-c', 'echo out; echo err >&2']);
    expect(result).toEqual({ stdout: 'out\n', stderr: 'err\n' });
  });

  it('passes arguments without a shell', async () => {
    const result = await runner().run(['echo', '$HOME; rm -rf /', '`id`']);
    expect(result.stdout).toBe('$HOME; rm -rf / `id`\n');
  });

  it('turns a non-zero exit into command_failed with the exit code and output', async () => {
    const err = await failure(runner().run(['sh', '-c', 'echo partial; echo broken >&2; exit 3']));
    expect(err.kind).toBe('command_failed');
    expect(err.retryable).toBe(true);
    expect(err.details).toMatchObject({
      command: 'sh -c echo partial; echo broken >&2; exit 3',
      exitCode: 3,
      stdout: 'partial\n',
      stderr: 'broken\n',
    });
  });

  it('turns a missing program into command_failed with exitCode null', async () => {
    const err = await failure(runner().run(['multinic-no-such-program', '--help']));
    expect(err.kind).toBe('command_failed');
    expect(err.details).toMatchObject({ command: 'multinic-no-such-program --help', exitCode: null });
    expect(err.message).toContain('ENOENT');
  });

  it('applies the prefix', async () => {
    const result = await runner(['env', 'FOO=1']).run(['sh', '-c', 'echo $FOO']);
    expect(result.stdout).toBe('1\n');
  });

  it('kills a command at its timeout and rejects with command_timeout', async () => {
    const started = Date.now();
    const err = await failure(runner().run(['sleep', '30'], { timeoutMs: 100 }));
    expect(err.kind).toBe('command_timeout');
    expect(err.details).toMatchObject({ command: 'sleep 30', timeoutMs: 100 });
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('kills the grandchildren of a timed out command too', async () => {
    const r = runner();
    const err = await failure(r.run(['sh', '-c', 'sleep 30 & echo $!; wait'], { timeoutMs: 300 }));
    expect(err.kind).toBe('command_timeout');
    const grandchild = Number(String(err.details['stdout']).trim());
    expect(grandchild).toBeGreaterThan(0);
    // The pipes closed when the kill landed; the kernel finishes tearing the process down just after
    // (under load, /proc can still show it exiting for a moment), so look again briefly.
    await vi.waitFor(() => expect(isRunning(grandchild)).toBe(false), { timeout: 2_000, interval: 20 });
  });

  it('sends SIGKILL after the grace to a command that ignores SIGTERM', async () => {
    const r = runner([], { killGraceMs: 200 });
    const started = Date.now();
    const err = await failure(r.run(['sh', '-c', 'trap "" TERM; sleep 30'], { timeoutMs: 100 }));
    expect(err.kind).toBe('command_timeout');
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(300);
    expect(elapsed).toBeLessThan(2_000);
  });

  it('caps captured output', async () => {
    const result = await runner([], { maxOutputBytes: 1000 }).run(['sh', '-c', 'yes | head -c 100000']);
    expect(result.stdout).toBe('y\n'.repeat(500) + '\n[output truncated]');
  });

  it('counts spawned processes', async () => {
    const r = runner();
    expect(r.spawned).toBe(0);
    await r.run(['true']);
    await failure(r.run(['false']));
    expect(r.spawned).toBe(2);
  });
});

describe('start', () => {
  it('delivers a signal and reports the exit with its output', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'multinic-exec-'));
    tempDirs.push(dir);
    const ready = path.join(dir, 'ready');
    const r = runner();
    const script = `trap "echo got; exit 0" USR1; touch '${ready}'; while :; do sleep 0.1; done`;
    const child = r.start(['sh', '-c', script]);
    expect(child.pid).toBeGreaterThan(0);
    // Signal only once the trap is installed, or the shell would die of SIGUSR1.
    await waitFor(() => existsSync(ready));
    child.signal('SIGUSR1');
    const exit = await child.exited;
    // The whole group gets the signal: the shell's `sleep` dies of it (the shell may say so on stderr).
    expect(exit).toMatchObject({ code: 0, signal: null, stdout: 'got\n' });
    expect(r.spawned).toBe(1);
  });

  it('gives the child an open pipe as stdin (Node uses a socket pair), and run() none', async () => {
    const r = runner();
    const child = r.start(['sleep', '30']);
    expect(readlinkSync(`/proc/${child.pid}/fd/0`)).toMatch(/^(pipe|socket):/);
    child.signal('SIGTERM');
    expect((await child.exited).signal).toBe('SIGTERM');
    const { stdout } = await r.run(['sh', '-c', 'readlink /proc/$$/fd/0']);
    expect(stdout).toBe('/dev/null\n');
  });

  it('rejects exited with command_failed when the program is missing', async () => {
    const child = runner().start(['multinic-no-such-program']);
    const err = await failure(child.exited);
    expect(err.kind).toBe('command_failed');
    expect(err.details['exitCode']).toBeNull();
  });
});

describe('close', () => {
  it('terminates running children and refuses new commands', async () => {
    const r = runner();
    const child = r.start(['sleep', '30']);
    const pending = failure(r.run(['sleep', '30']));
    await r.close();
    expect((await child.exited).signal).toBe('SIGTERM');
    expect((await pending).kind).toBe('command_failed');
    expect(isRunning(child.pid)).toBe(false);
    const refused = await failure(r.run(['true']));
    expect(refused.message).toContain('closed');
    expect(r.spawned).toBe(2);
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 250; i += 1) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('condition never became true');
}

describe('createRunner', () => {
  it('refuses a timeout that setTimeout would turn into 1 ms', async () => {
    expect(() => createRunner({ prefix: [], defaultTimeoutMs: Infinity })).toThrow(AgentError);
    const err = await failure(runner().run(['true'], { timeoutMs: 2 ** 31 }));
    expect(err.kind).toBe('config');
  });
});

describe('a grandchild that ignores SIGTERM and keeps stdout open', () => {
  it('is killed even though the leader exits at once', async () => {
    const r = runner([], { killGraceMs: 5_000 });
    // The shell exits on SIGTERM; its background child ignores SIGTERM and keeps the pipe open.
    const script = '(trap "" TERM; sleep 30) & echo $!; wait';
    const err = await failure(r.run(['sh', '-c', script], { timeoutMs: 100 }));
    expect(err.kind).toBe('command_timeout');
    const grandchild = Number(String(err.details['stdout']).trim());
    expect(grandchild).toBeGreaterThan(0);
    // The pipes closed when the kill landed; the kernel finishes tearing the process down just after
    // (under load, /proc can still show it exiting for a moment), so look again briefly.
    await vi.waitFor(() => expect(isRunning(grandchild)).toBe(false), { timeout: 2_000, interval: 20 });
  });
});
