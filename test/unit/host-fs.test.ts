import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentError } from '../../src/core/errors.js';
import { cleanStaleTemps, createHostFs, type HostFs } from '../../src/host/host-fs.js';

let root: string;
let outside: string;
let fs: HostFs;

beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'multinic-hostfs-'));
  outside = mkdtempSync(path.join(os.tmpdir(), 'multinic-outside-'));
  mkdirSync(path.join(root, 'etc/netplan'), { recursive: true });
  fs = createHostFs(root);
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

async function kindOf(action: () => unknown): Promise<string> {
  try {
    await action();
  } catch (err) {
    if (err instanceof AgentError) return err.kind;
    throw err;
  }
  return 'no error';
}

const netplanDir = () => path.join(root, 'etc/netplan');

describe('resolve', () => {
  it('maps a host path under the root', () => {
    expect(fs.resolve('/etc/netplan/90-multinic0.yaml')).toBe(
      path.join(root, 'etc/netplan/90-multinic0.yaml'),
    );
    expect(fs.resolve('/')).toBe(root);
  });

  it.each([
    ['a parent escape', '/../etc/passwd'],
    ['an escape through a directory', '/etc/../../x'],
    ['a relative path', 'etc/netplan/x.yaml'],
    ['a relative parent', '../x'],
    ['an empty path', ''],
    ['a NUL byte', '/etc/netplan/x.yaml\0.txt'],
  ])('refuses %s', async (_name, hostPath) => {
    expect(await kindOf(() => fs.resolve(hostPath))).toBe('path_escape');
  });
});

describe('readText and list', () => {
  it('reads a file, and null when absent', async () => {
    writeFileSync(path.join(netplanDir(), 'a.yaml'), 'hello');
    expect(await fs.readText('/etc/netplan/a.yaml')).toBe('hello');
    expect(await fs.readText('/etc/netplan/absent.yaml')).toBeNull();
    expect(await fs.readText('/no/such/dir/file')).toBeNull();
  });

  it('refuses to read through a symlink that leaves the root', async () => {
    writeFileSync(path.join(outside, 'secret'), 'outside');
    symlinkSync(path.join(outside, 'secret'), path.join(netplanDir(), 'link.yaml'));
    expect(await kindOf(() => fs.readText('/etc/netplan/link.yaml'))).toBe('path_escape');
  });

  it('follows a relative symlink that stays inside the root', async () => {
    mkdirSync(path.join(root, 'usr/lib'), { recursive: true });
    writeFileSync(path.join(root, 'usr/lib/os-release'), 'ID=ubuntu\n');
    symlinkSync('../usr/lib/os-release', path.join(root, 'etc/os-release'));
    expect(await fs.readText('/etc/os-release')).toBe('ID=ubuntu\n');
  });

  it('lists names sorted, and [] for an absent directory', async () => {
    writeFileSync(path.join(netplanDir(), 'b.yaml'), '');
    writeFileSync(path.join(netplanDir(), 'a.yaml'), '');
    expect(await fs.list('/etc/netplan')).toEqual(['a.yaml', 'b.yaml']);
    expect(await fs.list('/etc/absent')).toEqual([]);
  });
});

describe('writeAtomic', () => {
  it('creates a 0600 file and replaces its content, leaving no temp file', async () => {
    await fs.writeAtomic('/etc/netplan/90-multinic0.yaml', 'one\n');
    const file = path.join(netplanDir(), '90-multinic0.yaml');
    expect(readFileSync(file, 'utf8')).toBe('one\n');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    await fs.writeAtomic('/etc/netplan/90-multinic0.yaml', 'two\n');
    expect(readFileSync(file, 'utf8')).toBe('two\n');
    expect(readdirSync(netplanDir())).toEqual(['90-multinic0.yaml']);
  });

  it('sets the requested mode, also on an existing file', async () => {
    const file = path.join(netplanDir(), 'x.yaml');
    writeFileSync(file, 'old', { mode: 0o644 });
    await fs.writeAtomic('/etc/netplan/x.yaml', 'new', 0o640);
    expect(statSync(file).mode & 0o777).toBe(0o640);
  });

  it('refuses to write through a symlink at the target', async () => {
    const victim = path.join(outside, 'victim');
    writeFileSync(victim, 'untouched');
    symlinkSync(victim, path.join(netplanDir(), 'evil.yaml'));
    expect(await kindOf(() => fs.writeAtomic('/etc/netplan/evil.yaml', 'pwned'))).toBe('path_escape');
    expect(readFileSync(victim, 'utf8')).toBe('untouched');
    expect(fs.writes).toBe(0);
  });

  it('refuses a parent directory that is a symlink out of the root', async () => {
    symlinkSync(outside, path.join(root, 'etc/sneaky'));
    expect(await kindOf(() => fs.writeAtomic('/etc/sneaky/x.yaml', 'pwned'))).toBe('path_escape');
    expect(readdirSync(outside)).toEqual([]);
  });

  it('leaves the target untouched and no temp file when the rename fails', async () => {
    // A directory at the target makes rename() fail after the temp file was written.
    mkdirSync(path.join(netplanDir(), 'busy.yaml'));
    writeFileSync(path.join(netplanDir(), 'busy.yaml', 'inner'), 'old');
    expect(await kindOf(() => fs.writeAtomic('/etc/netplan/busy.yaml', 'new'))).toBe('io');
    expect(readFileSync(path.join(netplanDir(), 'busy.yaml', 'inner'), 'utf8')).toBe('old');
    expect(readdirSync(netplanDir())).toEqual(['busy.yaml']);
    expect(fs.writes).toBe(0);
  });

  it('fails with io when the parent directory is absent', async () => {
    expect(await kindOf(() => fs.writeAtomic('/etc/absent/x.yaml', 'x'))).toBe('io');
  });
});

describe('remove, mkdirp, removeTree and the write counter', () => {
  it('counts only changes', async () => {
    expect(fs.writes).toBe(0);
    await fs.writeAtomic('/etc/netplan/a.yaml', 'a');
    expect(fs.writes).toBe(1);
    await fs.remove('/etc/netplan/a.yaml');
    expect(fs.writes).toBe(2);
    await fs.remove('/etc/netplan/a.yaml');
    await fs.remove('/etc/absent/a.yaml');
    await fs.mkdirp('/etc/netplan');
    expect(fs.writes).toBe(2);
    await fs.mkdirp('/var/lib/multinic/backups');
    expect(statSync(path.join(root, 'var/lib/multinic/backups')).isDirectory()).toBe(true);
    expect(fs.writes).toBe(3);
    await fs.removeTree('/var/lib/multinic');
    expect(fs.writes).toBe(4);
    expect(await fs.list('/var/lib')).toEqual([]);
  });

  it('removes a symlink, never its target', async () => {
    const victim = path.join(outside, 'victim');
    writeFileSync(victim, 'untouched');
    symlinkSync(victim, path.join(netplanDir(), 'link.yaml'));
    await fs.remove('/etc/netplan/link.yaml');
    expect(readdirSync(netplanDir())).toEqual([]);
    expect(readFileSync(victim, 'utf8')).toBe('untouched');
  });

  it('refuses to create directories through a symlink out of the root', async () => {
    symlinkSync(outside, path.join(root, 'var'));
    expect(await kindOf(() => fs.mkdirp('/var/lib/multinic'))).toBe('path_escape');
    expect(readdirSync(outside)).toEqual([]);
  });

  it('refuses to create directories through a dangling symlink', async () => {
    symlinkSync(path.join(outside, 'absent'), path.join(root, 'var'));
    expect(await kindOf(() => fs.mkdirp('/var/lib/multinic'))).toBe('io');
    expect(readdirSync(outside)).toEqual([]);
  });

  it('refuses to remove the root', async () => {
    expect(await kindOf(() => fs.removeTree('/'))).toBe('path_escape');
  });
});

describe('cleanStaleTemps', () => {
  it('removes only leftover .*.multinic-tmp files', async () => {
    for (const name of [
      '.90-multinic0.yaml.multinic-tmp',
      '.x.multinic-tmp',
      '90-multinic0.yaml',
      'a.multinic-tmp',
      '.hidden',
    ]) {
      writeFileSync(path.join(netplanDir(), name), '');
    }
    const removed = await cleanStaleTemps(fs, '/etc/netplan');
    expect(removed).toEqual(['.90-multinic0.yaml.multinic-tmp', '.x.multinic-tmp']);
    expect(readdirSync(netplanDir()).sort()).toEqual(['.hidden', '90-multinic0.yaml', 'a.multinic-tmp']);
  });

  it('is a no-op for an absent directory', async () => {
    expect(await cleanStaleTemps(fs, '/etc/absent')).toEqual([]);
    expect(fs.writes).toBe(0);
  });
});

describe('a host root of /', () => {
  it('maps host paths to themselves and confines nothing away', async () => {
    const direct = createHostFs('/');
    expect(direct.resolve('/etc/hostname')).toBe('/etc/hostname');
    expect(direct.resolve('/')).toBe('/');
    expect(await direct.list(outside)).toEqual([]);
  });
});
