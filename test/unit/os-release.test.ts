import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { AgentError } from '../../src/core/errors.js';
import { backendFor, parseOsRelease } from '../../src/core/os-release.js';
import { createLogger } from '../../src/log.js';
import { buildAgent } from '../../src/main.js';

const OS_RELEASES: Record<string, string> = {
  'Ubuntu 22.04': 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="22.04"\n',
  'Debian 12': 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
  'Linux Mint 21': 'ID=linuxmint\nID_LIKE="ubuntu debian"\nVERSION_ID="21.3"\n',
  'CentOS 7': 'NAME="CentOS Linux"\nID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="7"\n',
  'RHEL 7.9': 'ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="7.9"\n',
  'RHEL 8.10': 'ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="8.10"\n',
  'Rocky 8.9': 'ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="8.9"\n',
  'AlmaLinux 8': 'ID="almalinux"\nID_LIKE="rhel centos fedora"\nVERSION_ID="8.10"\n',
  'Oracle Linux 8': 'ID="ol"\nID_LIKE="fedora"\nVERSION_ID="8.9"\n',
  'RHEL 9.4': 'ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\n',
  'Rocky 9': 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\n',
  'AlmaLinux 9': 'ID="almalinux"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n',
  'CentOS Stream 9': 'ID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="9"\n',
  'Oracle Linux 9': 'ID="ol"\nID_LIKE="fedora"\nVERSION_ID="9.3"\n',
  'Fedora 40': 'ID=fedora\nVERSION_ID=40\n',
  'a rebuild known only by ID_LIKE, 8': 'ID="eurolinux"\nID_LIKE="rhel fedora centos"\nVERSION_ID="8.7"\n',
  'a rebuild known only by ID_LIKE, 9': 'ID="navy"\nID_LIKE="rhel fedora"\nVERSION_ID="9.1"\n',
  'Amazon Linux 2 (ID_LIKE centos)': 'ID="amzn"\nID_LIKE="centos rhel fedora"\nVERSION_ID="2"\n',
};

describe('backendFor: the backend for /etc/os-release', () => {
  it.each<[string, string]>([
    ['Ubuntu 22.04', 'netplan'],
    ['Debian 12', 'netplan'],
    ['Linux Mint 21', 'netplan'],
    ['CentOS 7', 'ifcfg'],
    ['RHEL 7.9', 'ifcfg'],
    ['RHEL 8.10', 'ifcfg'],
    ['Rocky 8.9', 'ifcfg'],
    ['AlmaLinux 8', 'ifcfg'],
    ['Oracle Linux 8', 'ifcfg'],
    ['RHEL 9.4', 'keyfile'],
    ['Rocky 9', 'keyfile'],
    ['AlmaLinux 9', 'keyfile'],
    ['CentOS Stream 9', 'keyfile'],
    ['Oracle Linux 9', 'keyfile'],
    ['Fedora 40', 'keyfile'],
    ['a rebuild known only by ID_LIKE, 8', 'ifcfg'],
    ['a rebuild known only by ID_LIKE, 9', 'keyfile'],
    ['Amazon Linux 2 (ID_LIKE centos)', 'ifcfg'],
  ])('%s → %s', (os, kind) => {
    expect(backendFor(parseOsRelease(OS_RELEASES[os]!))).toEqual({ ok: true, kind });
  });

  it.each<[string, string, RegExp]>([
    [
      'an unknown OS',
      'PRETTY_NAME="SUSE Linux Enterprise Server 15"\nID="sles"\nID_LIKE="suse"\n',
      /SUSE.*unsupported|unsupported.*SUSE/,
    ],
    ['an empty file', '', /unsupported host OS "unknown"/],
    ['a RHEL without VERSION_ID', 'ID="rhel"\n', /no numeric VERSION_ID/],
    ['a RHEL with a non-numeric VERSION_ID', 'ID="rocky"\nVERSION_ID="nine"\n', /no numeric VERSION_ID/],
  ])('%s is a clear error, not a guess', (_label, text, reason) => {
    const verdict = backendFor(parseOsRelease(text));
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.reason).toMatch(reason);
  });
});

const base = { DB_HOST: '127.0.0.1', DB_USER: 'multinic', DB_PASSWORD: '', DB_NAME: 'multinic' };

function configFor(env: Record<string, string>) {
  return loadConfig({ env: { ...base, ...env }, readFile: () => '', hostname: () => 'worker-1' });
}

describe('settings: OS_TYPE and APPLY_MODE', () => {
  it.each(['auto', 'netplan', 'ifcfg', 'keyfile'])('OS_TYPE=%s is accepted', (osType) => {
    expect(configFor({ OS_TYPE: osType })).toMatchObject({ ok: true, config: { osType } });
  });

  it('refuses an unknown OS_TYPE, naming the choices', () => {
    expect(configFor({ OS_TYPE: 'yum' })).toEqual({
      ok: false,
      errors: ['OS_TYPE must be auto, netplan, ifcfg or keyfile'],
    });
  });

  it.each(['ifcfg', 'keyfile'])(
    'refuses APPLY_MODE=try with OS_TYPE=%s: NetworkManager has no trial',
    (osType) => {
      const result = configFor({ OS_TYPE: osType, APPLY_MODE: 'try', POLL_INTERVAL: 'soon' });
      expect(result.ok).toBe(false);
      if (result.ok) return;
      // Listed with the other problems, not instead of them.
      expect(result.errors).toEqual([
        expect.stringMatching(/POLL_INTERVAL/),
        `APPLY_MODE=try needs netplan; the ${osType} backend (NetworkManager) supports only APPLY_MODE=apply`,
      ]);
    },
  );

  it.each(['auto', 'netplan'])('accepts APPLY_MODE=try with OS_TYPE=%s', (osType) => {
    expect(configFor({ OS_TYPE: osType, APPLY_MODE: 'try' }).ok).toBe(true);
  });
});

describe('buildAgent picks the backend from the host root /etc/os-release (OS_TYPE=auto)', () => {
  const roots: string[] = [];
  afterEach(() => {
    for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
  });

  function hostRoot(osRelease: string | null): string {
    const root = mkdtempSync(join(tmpdir(), 'multinic-os-'));
    roots.push(root);
    mkdirSync(join(root, 'etc'), { recursive: true });
    if (osRelease !== null) writeFileSync(join(root, 'etc', 'os-release'), osRelease);
    return root;
  }

  async function build(osRelease: string | null, env: Record<string, string> = {}) {
    const result = configFor({ HOST_ROOT: hostRoot(osRelease), OS_TYPE: 'auto', ...env });
    if (!result.ok) throw new Error(result.errors.join('; '));
    return buildAgent(result.config, createLogger('error'));
  }

  async function failure(building: Promise<unknown>): Promise<AgentError> {
    const outcome = await building.then(
      () => null,
      (err: unknown) => err,
    );
    if (!(outcome instanceof AgentError)) throw new Error(`expected an AgentError, got ${String(outcome)}`);
    return outcome;
  }

  it.each<[string, string, string]>([
    ['Rocky 9', 'keyfile', '/etc/NetworkManager/system-connections/multinic2.nmconnection'],
    ['CentOS 7', 'ifcfg', '/etc/sysconfig/network-scripts/ifcfg-multinic2'],
    ['Ubuntu 22.04', 'netplan', '/etc/netplan/92-multinic2.yaml'],
  ])('%s → %s', async (os, kind, path) => {
    const agent = await build(OS_RELEASES[os]!);
    try {
      expect(agent.deps.backend.kind).toBe(kind);
      expect(agent.deps.backend.pathOf('multinic2')).toBe(path);
      expect(agent.telemetry.health().os_type).toBe(kind);
    } finally {
      await agent.close();
    }
  });

  it('refuses to start on an unknown OS, and without /etc/os-release', async () => {
    const unknown = await failure(build('ID="sles"\nVERSION_ID="15"\n'));
    expect([unknown.kind, unknown.message]).toEqual(['config', expect.stringMatching(/unsupported host OS/)]);
    expect((await failure(build(null))).kind).toBe('config');
  });

  it('refuses APPLY_MODE=try once the host turns out to be NetworkManager', async () => {
    const trial = await failure(build(OS_RELEASES['Rocky 9']!, { APPLY_MODE: 'try' }));
    expect(trial.kind).toBe('config');
    expect(trial.message).toMatch(/APPLY_MODE=try needs netplan.*keyfile/);
    const agent = await build(OS_RELEASES['Ubuntu 22.04']!, { APPLY_MODE: 'try' });
    await agent.close();
  });
});
