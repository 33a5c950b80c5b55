/**
 * Backups of the files a cycle changes: `/var/lib/multinic/backups/<stamp>/<host path>`, newest `keep`
 * kept. The caller owns the clock and passes the stamp.
 */
import * as path from 'node:path';
import { AgentError } from '../core/errors.js';
import type { HostFs } from './host-fs.js';

export const BACKUP_DIR = '/var/lib/multinic/backups';

export interface BackupFile {
  /** Host path of the original, e.g. /etc/netplan/90-multinic0.yaml. */
  path: string;
  content: string;
}

/**
 * Copies `files` into a new backup directory named `stamp` and returns its host path, then prunes the
 * oldest directories so that `keep` remain. Stamps must sort by time (e.g. `2026-11-29T14-05-03.123Z`).
 * Returns null, and touches nothing, when there is nothing to back up.
 */
export async function createBackup(
  fs: HostFs,
  files: readonly BackupFile[],
  stamp: string,
  keep = 20,
): Promise<string | null> {
  if (!Number.isInteger(keep) || keep < 1) {
    throw new AgentError('config', `backup retention must be a positive integer, got ${keep}`);
  }
  if (!/^[\w][\w.:-]*$/.test(stamp)) {
    throw new AgentError('path_escape', `invalid backup stamp ${JSON.stringify(stamp)}`, { stamp });
  }
  if (files.length === 0) return null;
  const dir = path.posix.join(BACKUP_DIR, stamp);
  for (const file of files) {
    fs.resolve(file.path); // refuse a bad source path before it is turned into a backup path
    const target = path.posix.join(dir, file.path.replace(/^\/+/, ''));
    await fs.mkdirp(path.posix.dirname(target));
    await fs.writeAtomic(target, file.content, 0o600);
  }
  await prune(fs, keep);
  return dir;
}

/** Removes all but the newest `keep` backup directories; hidden names (temp files) are not backups. */
async function prune(fs: HostFs, keep: number): Promise<void> {
  const stamps = (await fs.list(BACKUP_DIR)).filter((name) => !name.startsWith('.')).sort();
  const old = stamps.slice(0, Math.max(0, stamps.length - keep));
  for (const name of old) await fs.removeTree(path.posix.join(BACKUP_DIR, name));
}
