/**
 * Files of the host, seen through the host root mount (`/host` in the container, a temp dir in tests).
 * Every path goes through resolve(), which refuses to leave the root; writes are atomic and never go
 * through a symlink.
 */
import { constants as fsc, lstatSync, readFileSync, readdirSync, realpathSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { AgentError } from '../core/errors.js';

export interface HostFs {
  /** Where the host's `/` is mounted, e.g. '/host'. */
  readonly root: string;
  /** '/etc/netplan/x.yaml' → '<root>/etc/netplan/x.yaml'; `path_escape` for '..', relative paths, NUL. */
  resolve(hostPath: string): string;
  /** The file's text, or null when it is absent. */
  readText(hostPath: string): Promise<string | null>;
  /**
   * What is at a path found in a directory listing, without following a symlink: the text of a regular
   * file of at most `maxBytes`, or what else it is. Null when it is absent.
   */
  readEntry(hostPath: string, maxBytes: number): Promise<DirEntry | null>;
  /** Names in a directory, sorted; [] when the directory is absent. */
  list(hostDir: string): Promise<string[]>;
  /** Temp file, fsync, chmod, rename, fsync the directory. The parent directory must exist. */
  writeAtomic(hostPath: string, content: string, mode?: number): Promise<void>;
  /** Removes a file (or symlink, never its target); absent is fine. */
  remove(hostPath: string): Promise<void>;
  /** Removes a directory and everything in it; absent is fine. Refuses the root itself. */
  removeTree(hostDir: string): Promise<void>;
  /** Creates a directory and its parents (mode 0700). */
  mkdirp(hostDir: string): Promise<void>;
  /** Files written or removed and directories created or removed so far (0 in steady state). */
  readonly writes: number;
}

export type DirEntry =
  | { kind: 'file'; content: string }
  | { kind: 'symlink' }
  | { kind: 'not_a_file' }
  | { kind: 'too_large'; size: number };

/** Suffix of writeAtomic's temp files: netplan reads only `*.yaml`, so a leftover is never applied. */
export const TEMP_SUFFIX = '.multinic-tmp';
const TEMP_PATTERN = /^\..+\.multinic-tmp$/;

/** Creates a HostFs confined to `root` (an absolute path). */
export function createHostFs(root: string): HostFs {
  if (!path.isAbsolute(root)) throw new AgentError('config', `host root must be absolute: ${root}`);
  const base = path.resolve(root);
  let realBase: Promise<string> | undefined;
  let writes = 0;

  function resolve(hostPath: string): string {
    const clean = checkHostPath(hostPath);
    return clean === '/' ? base : path.join(base, clean);
  }

  /** Follows symlinks on the real path: an absolute link on the host would otherwise leave the root. */
  async function confined(hostPath: string, real: string): Promise<void> {
    realBase ??= fsp.realpath(base);
    const rootReal = await realBase;
    const prefix = rootReal.endsWith(path.sep) ? rootReal : rootReal + path.sep;
    if (real !== rootReal && !real.startsWith(prefix)) {
      throw new AgentError('path_escape', `${hostPath} resolves outside the host root`, { path: hostPath });
    }
  }

  /** The real path of an existing directory, checked to be inside the root; null when absent. */
  async function realDir(hostDir: string): Promise<string | null> {
    const full = resolve(hostDir);
    const real = await orNull(fsp.realpath(full));
    if (real !== null) await confined(hostDir, real);
    return real;
  }

  async function readText(hostPath: string): Promise<string | null> {
    const full = resolve(hostPath);
    try {
      // Synchronous on purpose: the agent reads a dozen small local files every cycle, and the promise API
      // costs five thread-pool round trips per file (realpath, open, fstat, read, close), which were most
      // of a steady cycle's CPU time. The files are small and local: the event loop waits microseconds.
      const real = orNullSync(() => realpathSync(full));
      if (real === null) return null;
      await confined(hostPath, real);
      return orNullSync(() => readFileSync(real, 'utf8'));
    } catch (err) {
      throw wrap(err, 'read', hostPath);
    }
  }

  async function readEntry(hostPath: string, maxBytes: number): Promise<DirEntry | null> {
    const full = resolve(hostPath);
    try {
      // Synchronous for the same reason as readText.
      const info = orNullSync(() => lstatSync(full));
      if (info === null) return null;
      if (info.isSymbolicLink()) return { kind: 'symlink' };
      if (!info.isFile()) return { kind: 'not_a_file' };
      if (info.size > maxBytes) return { kind: 'too_large', size: info.size };
      const real = orNullSync(() => realpathSync(full));
      if (real === null) return null;
      await confined(hostPath, real);
      const content = orNullSync(() => readFileSync(real, 'utf8'));
      return content === null ? null : { kind: 'file', content };
    } catch (err) {
      throw wrap(err, 'read', hostPath);
    }
  }

  async function list(hostDir: string): Promise<string[]> {
    try {
      // Synchronous for the same reason as readText: it runs every cycle, on a small local directory.
      const dir = orNullSync(() => realpathSync(resolve(hostDir)));
      if (dir === null) return [];
      await confined(hostDir, dir);
      const names = orNullSync(() => readdirSync(dir));
      return (names ?? []).sort();
    } catch (err) {
      throw wrap(err, 'list', hostDir);
    }
  }

  async function writeAtomic(hostPath: string, content: string, mode = 0o600): Promise<void> {
    const [parent, name] = splitFile(hostPath);
    const dir = await realDir(parent).catch((err: unknown) => {
      throw wrap(err, 'write', hostPath);
    });
    if (dir === null) {
      throw new AgentError('io', `${hostPath}: parent directory is absent`, { path: hostPath });
    }
    await writeInDir(dir, name, hostPath, content, mode);
    writes += 1;
  }

  async function remove(hostPath: string): Promise<void> {
    const [parent, name] = splitFile(hostPath);
    try {
      const dir = await realDir(parent);
      if (dir === null) return;
      const removed = await orNull(fsp.unlink(path.join(dir, name)));
      if (removed === null) return;
      await syncDir(dir);
      writes += 1;
    } catch (err) {
      throw wrap(err, 'remove', hostPath);
    }
  }

  async function removeTree(hostDir: string): Promise<void> {
    const [parent, name] = splitFile(hostDir);
    try {
      const dir = await realDir(parent);
      if (dir === null) return;
      const target = path.join(dir, name);
      if ((await orNull(fsp.lstat(target))) === null) return;
      // fs.rm unlinks symlinks it meets instead of following them.
      await fsp.rm(target, { recursive: true, force: true });
      writes += 1;
    } catch (err) {
      throw wrap(err, 'remove', hostDir);
    }
  }

  async function mkdirp(hostDir: string): Promise<void> {
    try {
      // Check the deepest existing ancestor first: what mkdir creates below it cannot be a symlink.
      const ancestor = await deepestExisting(hostDir);
      if ((await realDir(ancestor)) === null) {
        throw new AgentError('io', `${ancestor} is a dangling symlink`, { path: ancestor });
      }
      const created = await fsp.mkdir(resolve(hostDir), { recursive: true, mode: 0o700 });
      if (created !== undefined) writes += 1;
    } catch (err) {
      throw wrap(err, 'mkdir', hostDir);
    }
  }

  async function deepestExisting(hostDir: string): Promise<string> {
    let current = checkHostPath(hostDir);
    while (current !== '/' && (await orNull(fsp.lstat(resolve(current)))) === null) {
      current = path.posix.dirname(current);
    }
    return current;
  }

  return {
    root: base,
    resolve,
    readText,
    readEntry,
    list,
    writeAtomic,
    remove,
    removeTree,
    mkdirp,
    get writes() {
      return writes;
    },
  };
}

/** Deletes leftover `.<name>.multinic-tmp` files of an interrupted write; returns their names. */
export async function cleanStaleTemps(fs: HostFs, hostDir: string): Promise<string[]> {
  const stale = (await fs.list(hostDir)).filter((name) => TEMP_PATTERN.test(name));
  for (const name of stale) await fs.remove(path.posix.join(hostDir, name));
  return stale;
}

/** A file's parent directory and name; the root itself is not a file. */
function splitFile(hostPath: string): [string, string] {
  const clean = checkHostPath(hostPath);
  if (clean === '/') throw new AgentError('path_escape', 'the host root is not a file', { path: hostPath });
  return [path.posix.dirname(clean), path.posix.basename(clean)];
}

/** Validates a host path and returns it normalised (no '.' or empty segments). */
function checkHostPath(hostPath: string): string {
  const fail = (why: string): never => {
    throw new AgentError('path_escape', `${JSON.stringify(hostPath)}: ${why}`, { path: hostPath });
  };
  if (hostPath.includes('\0')) fail('contains a NUL byte');
  if (!hostPath.startsWith('/')) fail('not an absolute host path');
  const segments = hostPath.split('/').filter((s) => s !== '' && s !== '.');
  // No path the agent builds needs '..'; refusing every one is simpler to trust than normalising.
  if (segments.includes('..')) fail("contains a '..' segment");
  return '/' + segments.join('/');
}

async function writeInDir(dir: string, name: string, hostPath: string, content: string, mode: number) {
  const target = path.join(dir, name);
  const stat = await orNull(fsp.lstat(target));
  if (stat?.isSymbolicLink()) {
    throw new AgentError('path_escape', `${hostPath} is a symlink; refusing to write through it`, {
      path: hostPath,
    });
  }
  const temp = path.join(dir, `.${name}${TEMP_SUFFIX}`);
  try {
    await fsp.rm(temp, { force: true });
    // O_EXCL also refuses a symlink planted at the temp name.
    const handle = await fsp.open(temp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, mode);
    try {
      await handle.writeFile(content, 'utf8');
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(temp, target);
    await syncDir(dir);
  } catch (err) {
    await fsp.rm(temp, { force: true }).catch(() => undefined);
    throw wrap(err, 'write', hostPath);
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Null when the path (or a parent) does not exist. */
function orNullSync<T>(read: () => T): T | null {
  try {
    return read();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}

/** Resolves to null when the path (or a parent) does not exist. */
async function orNull<T>(promise: Promise<T>): Promise<T | null> {
  try {
    return await promise;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}

function wrap(err: unknown, op: string, hostPath: string): AgentError {
  if (err instanceof AgentError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const text = err instanceof Error ? err.message : String(err);
  return new AgentError('io', `${op} ${hostPath}: ${text}`, { path: hostPath, code }, err);
}
