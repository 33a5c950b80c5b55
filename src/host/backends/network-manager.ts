import { posix } from 'node:path';
import { AgentError } from '../../core/errors.js';
import { IFCFG_DIR, ifcfgPath, nameOfIfcfgFile, parseIfcfg, renderIfcfg } from '../../core/ifcfg.js';
import {
  KEYFILE_DIR,
  keyfileMeaning,
  keyfilePath,
  nameOfKeyfile,
  parseKeyfile,
  renderKeyfile,
  type KeyfileMeaning,
} from '../../core/keyfile.js';
import { readOriginalIfcfg, type OriginalRead } from '../../core/original.js';
import type { LiveLink, NicConfig } from '../../core/types.js';
import type { CommandRunner } from '../exec.js';
import type { HostFs } from '../host-fs.js';
import type { ApplySet, Backend, ConfigFile, FileValidation, OwnedScan, Trial } from './backend.js';
import { scanDir } from './scan.js';

export interface NetworkManagerOptions {
  /** `ifcfg` (RHEL/CentOS 7–8, the ifcfg-rh plugin) or `keyfile` (RHEL 9+). */
  format: 'ifcfg' | 'keyfile';
  fs: HostFs;
  runner: CommandRunner;
  /** Where commands see the host's root (see NetplanOptions.commandRoot). */
  commandRoot: string;
  /** Bound on one `nmcli connection up` (its `--wait`) and on a NetworkManager restart. */
  applyTimeoutMs: number;
  scratchId: () => string;
  /** Live links: a NIC is renamed from the name it has now, found by MAC. */
  readLinks: () => Promise<LiveLink[]>;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Told each time NetworkManager is restarted (the last resort), with the reason. */
  onRestart: (reason: string) => void;
  /** ADOPT_UNMANAGED: take over files in the original agent's shape (ifcfg; it never wrote keyfiles). */
  adopt: boolean;
}

interface FileFormat {
  dir: string;
  pathOf: (name: string) => string;
  nameOf: (fileName: string) => string | null;
  render: (config: NicConfig, rowId: number) => string;
  parse: (content: string) => NicConfig | null;
  readOriginal?: (content: string, name: string) => OriginalRead;
}

const FORMATS: Record<NetworkManagerOptions['format'], FileFormat> = {
  ifcfg: {
    dir: IFCFG_DIR,
    pathOf: ifcfgPath,
    nameOf: nameOfIfcfgFile,
    render: renderIfcfg,
    parse: parseIfcfg,
    readOriginal: readOriginalIfcfg,
  },
  keyfile: {
    dir: KEYFILE_DIR,
    pathOf: keyfilePath,
    nameOf: nameOfKeyfile,
    render: renderKeyfile,
    parse: parseKeyfile,
  },
};

const SCRATCH_BASE = '/var/lib/multinic/scratch';
/**
 * `nmcli --offline` reads a keyfile only on stdin and the runner gives no stdin, so a fixed script
 * redirects it; the path is a positional argument, never part of the script.
 */
const NMCLI_OFFLINE = ['sh', '-c', 'exec nmcli --offline connection modify <"$1"', 'nmcli-offline'];
/** nmcli exit codes (nmcli(1)): the object is unknown or not active; NetworkManager is not running. */
const NMCLI_NOT_FOUND = 10;
const NMCLI_NOT_RUNNING = 8;
const POLL_MS = 200;

function exitCodeOf(err: unknown): number | null {
  if (!(err instanceof AgentError) || err.kind !== 'command_failed') return null;
  return typeof err.details.exitCode === 'number' ? err.details.exitCode : null;
}

function messageOf(err: unknown): string {
  if (!(err instanceof AgentError)) return err instanceof Error ? err.message : String(err);
  const stderr = typeof err.details.stderr === 'string' ? err.details.stderr.trim() : '';
  return stderr === '' ? err.message : `${err.message}: ${stderr.split('\n')[0] ?? ''}`;
}

/** The settings whose meaning differs between two readings of a keyfile. */
function differences(a: KeyfileMeaning, b: KeyfileMeaning): string[] {
  return (Object.keys(a) as (keyof KeyfileMeaning)[]).filter(
    (key) => JSON.stringify(a[key]) !== JSON.stringify(b[key]),
  );
}

/**
 * RHEL: ifcfg (7–8) or keyfile (9+) files read by NetworkManager. A NIC is renamed by MAC with `ip link`
 * (down, rename, up), then the profiles are reloaded once and each changed connection is brought up.
 * Restarting NetworkManager (the seed's method) is the last resort, when reload or up found it not
 * answering or not knowing a profile just written.
 */
export function createNetworkManagerBackend(options: NetworkManagerOptions): Backend {
  const { fs, runner } = options;
  const format = FORMATS[options.format];
  const commandPath = (hostPath: string) => posix.join(options.commandRoot, hostPath);
  /**
   * Renames made by apply since the last scan (the current cycle), by new name: a rollback that removes
   * a NIC created in this cycle gives it its old name back.
   */
  const renamed = new Map<string, { mac: string; from: string }>();

  async function scan(): Promise<OwnedScan> {
    renamed.clear();
    return scanDir(fs, format, { adopt: options.adopt });
  }

  async function validate(files: readonly ConfigFile[]): Promise<FileValidation> {
    if (options.format === 'ifcfg') return validateIfcfg(files);
    const scratch = posix.join(SCRATCH_BASE, options.scratchId());
    try {
      await fs.mkdirp(scratch);
      for (const file of files) {
        const verdict = await validateKeyfile(file, posix.join(scratch, posix.basename(file.path)));
        if (!verdict.ok) return verdict;
      }
      return { ok: true };
    } finally {
      await fs.removeTree(scratch);
    }
  }

  /** nmcli --offline must accept the file and write back a profile that means the same. */
  async function validateKeyfile(file: ConfigFile, scratchPath: string): Promise<FileValidation> {
    const invalid = (message: string): FileValidation => ({ ok: false, name: file.name, message });
    const intended = keyfileMeaning(file.content);
    if (parseKeyfile(file.content) === null || intended === null) {
      return invalid(`${file.path}: not in the shape the agent writes`);
    }
    await fs.writeAtomic(scratchPath, file.content, 0o600);
    let stdout: string;
    try {
      ({ stdout } = await runner.run([...NMCLI_OFFLINE, commandPath(scratchPath)]));
    } catch (err) {
      // nmcli's own verdict on the file starts with "Error:"; anything else is the tool, not the file.
      if (exitCodeOf(err) === null || !/Error:/.test(messageOf(err))) {
        return { ok: false, name: null, message: `nmcli --offline failed: ${messageOf(err)}` };
      }
      return invalid(`${file.path}: nmcli rejects it: ${messageOf(err)}`);
    }
    const understood = keyfileMeaning(stdout);
    const differ = understood === null ? ['everything'] : differences(intended, understood);
    if (differ.length === 0) return { ok: true };
    return invalid(`${file.path}: nmcli reads ${differ.join(', ')} differently`);
  }

  async function apply(set: ApplySet): Promise<void> {
    const links = await options.readLinks();
    for (const name of set.remove)
      await nmcliTolerating(['connection', 'down', 'id', name], NMCLI_NOT_RUNNING);
    for (const config of set.configure) await renameByMac(config, links);
    let restarted = false;
    try {
      await runner.run(['nmcli', 'connection', 'reload']);
    } catch (err) {
      await restart(`nmcli connection reload failed: ${messageOf(err)}`);
      restarted = true;
      await runner.run(['nmcli', 'connection', 'reload']);
    }
    for (const name of set.remove) await nmcliTolerating(['connection', 'delete', 'id', name]);
    await renameBack(set.remove);
    const names = set.configure.map((config) => config.name);
    // Not knowing a profile just reloaded, or not running: NetworkManager's trouble, not the NIC's.
    const troubled = (await bringUp(names)).filter(
      (failure) => failure.exitCode === NMCLI_NOT_FOUND || failure.exitCode === NMCLI_NOT_RUNNING,
    );
    if (troubled.length === 0 || restarted) return;
    await restart(`nmcli connection up failed: ${troubled.map((t) => `${t.name}: ${t.message}`).join('; ')}`);
    await runner.run(['nmcli', 'connection', 'reload']);
    await bringUp(troubled.map((t) => t.name));
  }

  /** nmcli, where "unknown or not active" (and any other code given) means there is nothing to do. */
  async function nmcliTolerating(args: string[], ...alsoFine: number[]): Promise<void> {
    try {
      await runner.run(['nmcli', ...args]);
    } catch (err) {
      const code = exitCodeOf(err);
      if (code !== NMCLI_NOT_FOUND && (code === null || !alsoFine.includes(code))) throw err;
    }
  }

  /**
   * `ip link` down, rename, up, for a NIC whose live name differs. A rename that fails (the name is
   * taken) is left to verification, which names it; the other NICs of the batch go on.
   */
  async function renameByMac(config: NicConfig, links: readonly LiveLink[]): Promise<void> {
    const link = links.find((candidate) => candidate.mac === config.mac);
    if (link === undefined || link.name === config.name) return;
    if (links.some((other) => other.name === config.name)) return;
    if (await renameLink(link.name, config.name)) {
      if (!renamed.has(config.name)) renamed.set(config.name, { mac: config.mac, from: link.name });
    }
  }

  async function renameLink(from: string, to: string): Promise<boolean> {
    try {
      await runner.run(['ip', 'link', 'set', 'dev', from, 'down']);
      await runner.run(['ip', 'link', 'set', 'dev', from, 'name', to]);
      await runner.run(['ip', 'link', 'set', 'dev', to, 'up']);
      return true;
    } catch {
      return false;
    }
  }

  /** A removed NIC that this cycle renamed (a failed new NIC being rolled back) gets its old name back. */
  async function renameBack(removed: readonly string[]): Promise<void> {
    const back = removed.flatMap((name) => {
      const entry = renamed.get(name);
      return entry === undefined ? [] : [{ name, ...entry }];
    });
    if (back.length === 0) return;
    const links = await options.readLinks();
    for (const { name, mac, from } of back) {
      const link = links.find((candidate) => candidate.mac === mac);
      if (link?.name !== name || links.some((other) => other.name === from)) continue;
      if (await renameLink(name, from)) renamed.delete(name);
    }
  }

  /**
   * `nmcli connection up` for every name at once (NetworkManager activates them in parallel). A
   * connection that fails to come up is left to verification, which says what is wrong with its link;
   * returned are the failures, so that apply can tell a NetworkManager that does not answer.
   */
  async function bringUp(names: readonly string[]) {
    const wait = String(Math.max(1, Math.round(options.applyTimeoutMs / 1000)));
    const outcomes = await Promise.all(
      names.map((name) =>
        runner
          .run(['nmcli', '--wait', wait, 'connection', 'up', 'id', name], {
            timeoutMs: options.applyTimeoutMs + 5_000,
          })
          .then(
            () => null,
            (err: unknown) => ({ name, exitCode: exitCodeOf(err), message: messageOf(err) }),
          ),
      ),
    );
    return outcomes.filter((outcome) => outcome !== null);
  }

  /** The last resort: restart NetworkManager and wait until nmcli reaches it again. */
  async function restart(reason: string): Promise<void> {
    options.onRestart(reason);
    await runner.run(['systemctl', 'restart', 'NetworkManager'], { timeoutMs: options.applyTimeoutMs });
    const deadline = options.now() + options.applyTimeoutMs;
    for (;;) {
      const state = await runner.run(['nmcli', '-t', '-f', 'RUNNING', 'general']).then(
        (result) => result.stdout.trim(),
        () => 'not running',
      );
      if (state === 'running') return;
      if (options.now() >= deadline) {
        throw new AgentError('apply', `NetworkManager did not come back after a restart (${reason})`);
      }
      await options.sleep(POLL_MS);
    }
  }

  function startTrial(_set: ApplySet): Promise<Trial> {
    return Promise.reject(
      new AgentError('config', 'APPLY_MODE=try needs netplan: NetworkManager has no trial nmcli can drive'),
    );
  }

  return {
    kind: options.format,
    pathOf: format.pathOf,
    render: format.render,
    scan,
    validate,
    apply,
    startTrial,
  };
}

/** ifcfg-rh cannot be asked offline (and Debian has no ifcfg-rh): every file must parse back exactly. */
function validateIfcfg(files: readonly ConfigFile[]): FileValidation {
  for (const file of files) {
    if (parseIfcfg(file.content) === null) {
      return { ok: false, name: file.name, message: `${file.path}: not in the shape the agent writes` };
    }
  }
  return { ok: true };
}
