/**
 * One agent per node: a lock file on the host holding the owner's pid and start time.
 *
 * The lock lives on the host (under the host root), not in the container, so it outlives the pod and is
 * shared by every agent pod of the node. The pid in it is in the agent's own pid namespace. With
 * `hostPID: true` (which `nsenter -t 1` needs anyway to reach the host's init) that namespace is the
 * host's, so pids written by different pods compare. Without it, every container's agent has the same
 * small pid, so a lock carrying our own pid that this process did not take is treated as stale: it was
 * left by an earlier container. The start time (from /proc/<pid>/stat) guards against a pid reused
 * after a reboot or a wrap-around, which would otherwise keep a stale lock "alive" forever.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { AgentError } from '../core/errors.js';
import { TEMP_SUFFIX, type HostFs } from './host-fs.js';

export interface Lock {
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): Promise<void>;
}

interface Owner {
  pid: number;
  start: string | null;
}

/** Lock files taken by this process (by resolved path), so a second acquire here is refused too. */
const heldHere = new Set<string>();
const ATTEMPTS = 3;

/**
 * Takes the node's lock, or throws `lock_held` (details: `pid`) when a live agent holds it. A lock
 * whose owner is dead is taken over.
 */
export async function acquireLock(fs: HostFs, hostPath = '/var/lib/multinic/agent.lock'): Promise<Lock> {
  const full = fs.resolve(hostPath);
  if (heldHere.has(full)) throw held(hostPath, process.pid);
  await fs.mkdirp(path.posix.dirname(hostPath));
  const mine = `${process.pid} ${(await startTime(process.pid)) ?? '-'}\n`;
  // link() of a complete temp file creates the lock with its content in one step: nobody can read a
  // half-written lock and mistake it for a stale one.
  const temp = path.join(path.dirname(full), `.${path.basename(full)}.${process.pid}${TEMP_SUFFIX}`);
  await fsp.rm(temp, { force: true });
  await fsp.writeFile(temp, mine, { mode: 0o600, flag: 'wx' });
  try {
    for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
      if (await tryLink(temp, full)) {
        heldHere.add(full);
        return { release: () => release(full, mine) };
      }
      await removeIfStale(full, hostPath);
    }
    throw new AgentError('io', `${hostPath}: lock changed hands ${ATTEMPTS} times; giving up`, {
      path: hostPath,
    });
  } finally {
    await fsp.rm(temp, { force: true });
  }
}

async function tryLink(temp: string, full: string): Promise<boolean> {
  try {
    await fsp.link(temp, full);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new AgentError('io', `cannot create lock ${full}`, { path: full }, err);
  }
}

/** Throws lock_held when the current owner is alive; otherwise deletes its lock file. */
async function removeIfStale(full: string, hostPath: string): Promise<void> {
  const content = await readOrNull(full);
  if (content === null) return;
  const owner = parseOwner(content);
  if (owner !== null && (await isAlive(owner))) throw held(hostPath, owner.pid);
  // Delete only what was judged stale; if it changed meanwhile, the next attempt looks again.
  if ((await readOrNull(full)) === content) await fsp.rm(full, { force: true });
}

async function release(full: string, mine: string): Promise<void> {
  heldHere.delete(full);
  if ((await readOrNull(full)) === mine) await fsp.rm(full, { force: true });
}

/** `<pid> <start>`; null when the file is not a lock we can make sense of (treated as stale). */
export function parseOwner(content: string): Owner | null {
  const [pidText, start] = content.trim().split(/\s+/);
  if (pidText === undefined || !/^\d+$/.test(pidText)) return null;
  const pid = Number(pidText);
  if (!Number.isSafeInteger(pid) || pid <= 0) return null;
  return { pid, start: start === undefined || start === '-' ? null : start };
}

async function isAlive(owner: Owner): Promise<boolean> {
  // Our own pid, in a lock this process did not take: a previous container had the same pid.
  if (owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (owner.start === null) return true;
  const start = await startTime(owner.pid);
  return start === null || start === owner.start;
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); null when unreadable. */
export async function startTime(pid: number): Promise<string | null> {
  const stat = await readOrNull(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // The command name (field 2) is in parentheses and may contain spaces: count after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19] ?? null;
}

async function readOrNull(file: string): Promise<string | null> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch {
    return null;
  }
}

function held(hostPath: string, pid: number): AgentError {
  return new AgentError('lock_held', `another agent (pid ${pid}) holds ${hostPath}`, { pid, path: hostPath });
}
