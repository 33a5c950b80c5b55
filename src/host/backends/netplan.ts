import { posix } from 'node:path';
import { AgentError } from '../../core/errors.js';
import {
  NETPLAN_DIR,
  nameOfNetplanFile,
  netplanPath,
  parseNetplan,
  renderNetplan,
} from '../../core/netplan.js';
import { readOriginalNetplan } from '../../core/original.js';
import type { NicConfig } from '../../core/types.js';
import type { CommandRunner, Exit } from '../exec.js';
import type { HostFs } from '../host-fs.js';
import type { ApplySet, Backend, ConfigFile, FileValidation, OwnedScan, Trial } from './backend.js';
import { scanDir } from './scan.js';

export interface NetplanOptions {
  fs: HostFs;
  runner: CommandRunner;
  /**
   * Where commands see the host's root: '/' when they run in the host's mount namespace (nsenter), the
   * host root mount itself when they run beside the agent (tests, sandbox).
   */
  commandRoot: string;
  applyTimeoutMs: number;
  /** Unique per call, e.g. a timestamp: names the scratch directory of a validation. */
  scratchId: () => string;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** ADOPT_UNMANAGED: take over files in the original agent's shape. */
  adopt: boolean;
}

/** netplan try creates this once the trial configuration is active and it waits for a verdict. */
const TRY_READY = '/run/netplan/netplan-try.ready';

function trialError(message: string, exit: Exit | Error): AgentError {
  if (exit instanceof Error) return new AgentError('apply', `${message}: ${exit.message}`, {}, exit);
  const how = exit.code === null ? `signal ${exit.signal ?? '?'}` : `exit ${exit.code}`;
  return new AgentError('apply', `${message} (${how})`, { stdout: exit.stdout, stderr: exit.stderr });
}

const SCRATCH_BASE = '/var/lib/multinic/scratch';
const ERROR_FILE_RE = /(9[0-9]-multinic[0-9]\.yaml):\d+:\d+/;

/** Ubuntu: one netplan file per NIC, validated by `netplan generate`, applied by `netplan apply`. */
export function createNetplanBackend(options: NetplanOptions): Backend {
  const { fs, runner } = options;
  const commandPath = (hostPath: string) => posix.join(options.commandRoot, hostPath);

  // Parsed configurations of the previous scan, by file content: in steady state every file is unchanged,
  // and parsing YAML was most of a steady cycle's CPU time. Holds only what the last scan saw.
  let parsed = new Map<string, NicConfig | null>();

  function parseOnce(content: string, seen: Map<string, NicConfig | null>): NicConfig | null {
    const config = parsed.has(content) ? (parsed.get(content) ?? null) : parseNetplan(content);
    seen.set(content, config);
    return config;
  }

  async function scan(): Promise<OwnedScan> {
    const seen = new Map<string, NicConfig | null>();
    const format = {
      dir: NETPLAN_DIR,
      nameOf: nameOfNetplanFile,
      parse: (content: string) => parseOnce(content, seen),
      readOriginal: readOriginalNetplan,
    };
    const result = await scanDir(fs, format, { adopt: options.adopt });
    parsed = seen;
    return result;
  }

  async function validate(files: readonly ConfigFile[]): Promise<FileValidation> {
    const scratch = posix.join(SCRATCH_BASE, options.scratchId());
    const dir = posix.join(scratch, NETPLAN_DIR);
    try {
      await fs.mkdirp(dir);
      for (const file of files)
        await fs.writeAtomic(posix.join(dir, posix.basename(file.path)), file.content);
      await runner.run(['netplan', 'generate', '--root-dir', commandPath(scratch)]);
      return { ok: true };
    } catch (err) {
      if (!(err instanceof AgentError) || err.kind !== 'command_failed') throw err;
      const stderr = typeof err.details.stderr === 'string' ? err.details.stderr : err.message;
      const file = ERROR_FILE_RE.exec(stderr)?.[1];
      const message = stderr.trim().split('\n')[0] ?? 'netplan generate failed';
      return { ok: false, name: file === undefined ? null : nameOfNetplanFile(file), message };
    } finally {
      await fs.removeTree(scratch);
    }
  }

  async function apply(_set: ApplySet): Promise<void> {
    await runner.run(['netplan', 'apply'], { timeoutMs: options.applyTimeoutMs });
  }

  async function startTrial(_set: ApplySet): Promise<Trial> {
    const seconds = String(Math.max(1, Math.round(options.applyTimeoutMs / 1000)));
    // A ready file left by a trial of a crashed run would make this one look ready before it applied.
    await fs.remove(TRY_READY);
    const trial = runner.start(['netplan', 'try', '--timeout', seconds]);
    const outcome = trial.exited.then(
      (exit) => exit,
      (err: unknown) => err as Error,
    );
    // netplan installs its signal handlers before it applies: a signal sent before the ready file exists
    // would interrupt the apply half-way, so wait for it (or for the process to give up).
    const deadline = options.now() + options.applyTimeoutMs;
    for (;;) {
      if ((await fs.readText(TRY_READY)) !== null) break;
      const exited = await Promise.race([outcome, options.sleep(100).then(() => null)]);
      if (exited !== null) throw trialError('netplan try ended before it was ready', exited);
      if (options.now() >= deadline) {
        trial.signal('SIGINT');
        throw trialError('netplan try was not ready in time', await outcome);
      }
    }
    const finish = async (signal: 'SIGUSR1' | 'SIGINT', expected: RegExp, what: string) => {
      trial.signal(signal);
      const exit = await outcome;
      if (exit instanceof Error || !expected.test(exit.stdout))
        throw trialError(`netplan try did not ${what}`, exit);
    };
    return {
      confirm: () => finish('SIGUSR1', /Configuration accepted/, 'accept the configuration'),
      revert: () => finish('SIGINT', /Revert/i, 'revert'),
    };
  }

  return { kind: 'netplan', pathOf: netplanPath, render: renderNetplan, scan, validate, apply, startTrial };
}
