/**
 * The real agent, as a process inside a sandbox: `node cli.js once|plan|run`, its JSON log lines parsed.
 *
 * The agent is compiled from the current src/ into a private directory keyed by a hash of the sources
 * (node_modules/.cache/multinic-e2e/<hash>/), so a test never runs a stale dist/ and `npm test` needs no
 * build step first. The first file to need it compiles (~7 s); later runs with the same sources reuse it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { forEachLine, standInDir, type ExecResult, type Sandbox, type SandboxProcess } from './sandbox.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const cacheDir = join(repo, 'node_modules', '.cache', 'multinic-e2e');
/** Builds of other sources older than this are deleted; younger ones may belong to a run in progress. */
const STALE_BUILD_MS = 3_600_000;
const STOP_TIMEOUT_MS = 30_000;

/**
 * Tracers (`netplan`, `ip`, `nmcli`) first on the agent's PATH: each call the agent makes is logged to the
 * sandbox's call log (`sb.calls()`) as `netplan apply [parent: node]` before the real command runs.
 */
export const traceDir = fileURLToPath(new URL('trace', import.meta.url));
const agentPath = `${traceDir}:${standInDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;

/** One JSON log line of the agent (SPEC §8): `level` as a word, `msg`, `time`, and fields. */
export interface LogLine {
  level: string;
  msg: string;
  time: string;
  [field: string]: unknown;
}

export interface AgentRun extends ExecResult {
  logs: LogLine[];
  /** Wall time from spawning the process to its exit. */
  seconds: number;
}

/** Settings for an agent inside a sandbox: its database, HOST_ROOT=/, no nsenter, debug logs, tracers. */
export function agentEnv(database: Record<string, string>, overrides: Record<string, string> = {}) {
  return {
    PATH: agentPath,
    ...database,
    NODE_NAME: 'worker-1',
    HOST_ROOT: '/',
    COMMAND_PREFIX: '',
    OS_TYPE: 'netplan',
    VERIFY_TIMEOUT: '20s',
    LOG_LEVEL: 'debug',
    ...overrides,
  };
}

let built: Promise<string> | undefined;

/** Absolute path of the compiled cli.js of the current sources (compiled once per test process). */
export function agentCli(): Promise<string> {
  built ??= build();
  return built;
}

/** Runs `once` or `plan` to completion inside the sandbox. */
export async function runAgent(sb: Sandbox, command: 'once' | 'plan', env: Record<string, string>) {
  const cli = await agentCli();
  const started = performance.now();
  const result = await sb.exec(['node', cli, command], { env });
  const seconds = (performance.now() - started) / 1000;
  return { ...result, logs: parseLogs(result.stdout), seconds } satisfies AgentRun;
}

/** The daemon (`run`), running inside a sandbox. */
export interface Daemon {
  readonly process: SandboxProcess;
  /** Log lines so far, oldest first. */
  readonly logs: LogLine[];
  /** Resolves with the first line (already seen or to come) that matches; rejects after `timeoutMs`. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Signals it (SIGTERM by default) and waits, bounded, for its exit. */
  stop(signal?: NodeJS.Signals): Promise<AgentRun>;
}

/** `command` replaces `node <this build's cli.js>`, e.g. the image's flags and the bundle. */
export async function startDaemon(
  sb: Sandbox,
  env: Record<string, string>,
  command?: string[],
): Promise<Daemon> {
  const argv = command ?? ['node', await agentCli()];
  const started = performance.now();
  const proc = sb.spawn([...argv, 'run'], { env, stdin: 'ignore' });
  const logs = followLogs(proc);
  const exited = () => proc.child.exitCode !== null || proc.child.signalCode !== null;
  return {
    process: proc,
    logs,
    async waitForLog(match, timeoutMs = 20_000) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const line = logs.find(match);
        if (line !== undefined) return line;
        if (exited()) throw new Error(`agent exited before the log line came: ${(await proc.done).stderr}`);
        if (performance.now() > deadline) {
          throw new Error(
            `no such log line within ${timeoutMs} ms; got: ${logs.map((l) => l.msg).join(' | ')}`,
          );
        }
        await sleep(50);
      }
    },
    async stop(signal = 'SIGTERM') {
      if (!exited()) await proc.signal(signal);
      const timeout = sleep(STOP_TIMEOUT_MS).then(() => {
        throw new Error(`agent did not exit within ${STOP_TIMEOUT_MS} ms of ${signal}`);
      });
      const result = await Promise.race([proc.done, timeout]);
      return { ...result, logs, seconds: (performance.now() - started) / 1000 };
    },
  };
}

/** The process nsenter started inside the sandbox (its only child): the one whose /proc figures count. */
export function innerPid(proc: SandboxProcess): number {
  const outer = proc.child.pid ?? 0;
  return Number(readFileSync(`/proc/${outer}/task/${outer}/children`, 'utf8').trim().split(' ')[0]);
}

/** The JSON log lines of a running agent's stdout, collected as they come (the array grows). */
export function followLogs(proc: SandboxProcess): LogLine[] {
  const logs: LogLine[] = [];
  forEachLine(proc.child.stdout, (line) => logs.push(...parseLogs(line)));
  return logs;
}

/** Parses the JSON lines of stdout; anything else (the `plan` command's text) is left out. */
export function parseLogs(stdout: string): LogLine[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

async function build(): Promise<string> {
  const hash = await sourceHash();
  const out = join(cacheDir, hash);
  const cli = join(out, 'cli.js');
  if (existsSync(cli)) return cli;
  await mkdir(cacheDir, { recursive: true });
  const temp = await mkdtemp(join(cacheDir, 'build-'));
  try {
    const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
    await promisify(execFile)(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', temp], {
      cwd: repo,
    });
    // Outside the package's own directory Node would take the files for CommonJS.
    await writeFile(join(temp, 'package.json'), '{ "type": "module" }\n');
    await rename(temp, out).catch((error: NodeJS.ErrnoException) => {
      // Another test process built the same sources meanwhile: use theirs.
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
    });
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  await removeStaleBuilds(hash);
  return cli;
}

/** sha256 of every source file (path and content) and of the files that decide how they compile. */
async function sourceHash(): Promise<string> {
  const files = [
    ...(await listFiles(join(repo, 'src'))),
    ...['package.json', 'tsconfig.json', 'tsconfig.build.json'].map((file) => join(repo, file)),
  ].sort();
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(`${relative(repo, file)}\0`);
    hash.update(await readFile(file));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((entry) => {
      const path = join(dir, entry.name);
      return entry.isDirectory() ? listFiles(path) : Promise.resolve([path]);
    }),
  );
  return nested.flat();
}

async function removeStaleBuilds(keep: string): Promise<void> {
  for (const name of await readdir(cacheDir)) {
    if (name === keep) continue;
    const path = join(cacheDir, name);
    const info = await stat(path).catch(() => null);
    if (info !== null && Date.now() - info.mtimeMs > STALE_BUILD_MS) {
      await rm(path, { recursive: true, force: true });
    }
  }
}
