import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBackup } from '../../src/host/backups.js';
import { createHostFs, type HostFs } from '../../src/host/host-fs.js';

let root: string;
let fs: HostFs;
const backups = () => path.join(root, 'var/lib/multinic/backups');

beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'multinic-backup-'));
  fs = createHostFs(root);
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function stamp(second: number): string {
  return `2026-11-29T14-05-${String(second).padStart(2, '0')}.123Z`;
}

describe('createBackup', () => {
  it('copies every file under the stamp directory with mode 0600', async () => {
    const dir = await createBackup(
      fs,
      [
        { path: '/etc/netplan/90-multinic0.yaml', content: 'zero\n' },
        { path: '/etc/sysconfig/network-scripts/ifcfg-multinic1', content: 'one\n' },
      ],
      stamp(3),
    );
    expect(dir).toBe(`/var/lib/multinic/backups/${stamp(3)}`);
    const copy = path.join(backups(), stamp(3), 'etc/netplan/90-multinic0.yaml');
    expect(readFileSync(copy, 'utf8')).toBe('zero\n');
    expect(statSync(copy).mode & 0o777).toBe(0o600);
    const other = path.join(backups(), stamp(3), 'etc/sysconfig/network-scripts/ifcfg-multinic1');
    expect(readFileSync(other, 'utf8')).toBe('one\n');
  });

  it('returns null and creates nothing for no files', async () => {
    expect(await createBackup(fs, [], stamp(1))).toBeNull();
    expect(existsSync(path.join(root, 'var'))).toBe(false);
    expect(fs.writes).toBe(0);
  });

  it('keeps exactly the newest `keep` backup directories', async () => {
    // Created out of order: pruning goes by name (time), not by creation order.
    for (const second of [5, 1, 4, 2, 3]) {
      await createBackup(fs, [{ path: '/etc/netplan/a.yaml', content: String(second) }], stamp(second), 3);
    }
    expect(readdirSync(backups()).sort()).toEqual([stamp(3), stamp(4), stamp(5)]);
    expect(readFileSync(path.join(backups(), stamp(4), 'etc/netplan/a.yaml'), 'utf8')).toBe('4');
  });

  it('ignores hidden entries when pruning', async () => {
    mkdirSync(path.join(backups(), '.in-progress'), { recursive: true });
    await createBackup(fs, [{ path: '/etc/netplan/a.yaml', content: 'x' }], stamp(1), 1);
    await createBackup(fs, [{ path: '/etc/netplan/a.yaml', content: 'y' }], stamp(2), 1);
    expect(readdirSync(backups()).sort()).toEqual(['.in-progress', stamp(2)]);
  });

  it.each([
    ['a stamp with a slash', [{ path: '/etc/x', content: '' }], '../x', 'path_escape'],
    ['a dot stamp', [{ path: '/etc/x', content: '' }], '..', 'path_escape'],
    ['a source path escaping', [{ path: '/etc/../../x', content: '' }], stamp(1), 'path_escape'],
    ['a relative source path', [{ path: 'etc/x', content: '' }], stamp(1), 'path_escape'],
  ])('refuses %s', async (_name, files, badStamp, kind) => {
    await expect(createBackup(fs, files, badStamp)).rejects.toMatchObject({ kind });
    expect(existsSync(path.join(root, 'var'))).toBe(false);
  });

  it('refuses a retention below 1', async () => {
    await expect(createBackup(fs, [{ path: '/etc/x', content: '' }], stamp(1), 0)).rejects.toMatchObject({
      kind: 'config',
    });
  });
});
