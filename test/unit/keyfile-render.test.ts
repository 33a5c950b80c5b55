import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentError } from '../../src/core/errors.js';
import {
  keyfileMeaning,
  keyfilePath,
  nameOfKeyfile,
  parseKeyfile,
  readKeyfile,
  renderKeyfile,
} from '../../src/core/keyfile.js';
import { isOwned } from '../../src/core/ownership.js';
import type { NicConfig } from '../../src/core/types.js';
import { haveTool } from '../support/require-tool.js';

const GOLDEN = join(import.meta.dirname, '..', 'golden', 'keyfile');

const cases: Record<string, NicConfig> = {
  'address-24': {
    name: 'multinic0',
    mac: 'fa:16:3e:5e:62:3e',
    address: { ip: '192.168.1.100', prefix: 24 },
    mtu: 1500,
  },
  'link-only': { name: 'multinic1', mac: 'fa:16:3e:00:00:01', address: null, mtu: 1500 },
  'jumbo-32': {
    name: 'multinic9',
    mac: 'fa:16:3e:ab:cd:ef',
    address: { ip: '10.20.30.40', prefix: 32 },
    mtu: 9000,
  },
  'min-mtu-16': {
    name: 'multinic5',
    mac: '02:00:00:00:00:05',
    address: { ip: '172.16.5.1', prefix: 16 },
    mtu: 68,
  },
};

const goldenPath = (label: string) => join(GOLDEN, `${label}.nmconnection`);

describe('keyfile renderer: golden files', () => {
  it.each(Object.entries(cases))('%s matches its golden file and parses back', (label, config) => {
    const rendered = renderKeyfile(config, 7);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(goldenPath(label), rendered);
    expect(rendered).toBe(readFileSync(goldenPath(label), 'utf8'));
    expect(isOwned(rendered)).toBe(true);
    expect(parseKeyfile(rendered)).toEqual(config);
  });

  it('has exactly one golden file per case (no stale goldens)', () => {
    expect(readdirSync(GOLDEN).sort()).toEqual(
      Object.keys(cases)
        .map((c) => `${c}.nmconnection`)
        .sort(),
    );
  });

  it('writes the agreed groups and keys: matched by MAC, manual IPv4 or none, MTU, IPv6 disabled', () => {
    const groups = (config: NicConfig) =>
      Object.fromEntries(
        [...(readKeyfile(renderKeyfile(config, 7)) ?? [])].map(([group, keys]) => [
          group,
          Object.fromEntries(keys),
        ]),
      );
    expect(groups(cases['address-24']!)).toEqual({
      connection: { id: 'multinic0', type: 'ethernet', 'interface-name': 'multinic0', autoconnect: 'true' },
      ethernet: { 'mac-address': 'fa:16:3e:5e:62:3e', mtu: '1500' },
      ipv4: { method: 'manual', address1: '192.168.1.100/24' },
      ipv6: { method: 'disabled' },
    });
    expect(groups(cases['link-only']!).ipv4).toEqual({ method: 'disabled' });
  });
});

const NMCLI = '/usr/bin/nmcli';

/** What `nmcli --offline` writes back after reading a keyfile on stdin (no daemon involved). */
function nmcliRoundTrip(content: string): { code: number; stdout: string; stderr: string } {
  const result = spawnSync(NMCLI, ['--offline', 'connection', 'modify'], {
    input: content,
    encoding: 'utf8',
  });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

describe.skipIf(!haveTool(NMCLI))('golden keyfiles through the real `nmcli --offline` (round trip)', () => {
  it.each(Object.keys(cases))('%s is accepted and means the same to NetworkManager', (label) => {
    const golden = readFileSync(goldenPath(label), 'utf8');
    const result = nmcliRoundTrip(golden);
    expect(result.code, result.stderr).toBe(0);
    expect(keyfileMeaning(result.stdout)).toEqual(keyfileMeaning(golden));
    // And nmcli's rewrite carries the agent's values, not defaults that happen to be equal.
    expect(keyfileMeaning(result.stdout)).toMatchObject({
      id: cases[label]!.name,
      interfaceName: cases[label]!.name,
      mac: cases[label]!.mac,
      mtu: cases[label]!.mtu,
      ipv6Method: 'disabled',
    });
  });

  it('shows a value nmcli drops as a different meaning (the check in validate is real)', () => {
    const golden = readFileSync(goldenPath('address-24'), 'utf8');
    const result = nmcliRoundTrip(golden.replace('mtu=1500', 'mtu=15x0'));
    expect(keyfileMeaning(result.stdout)?.mtu).not.toBe(1500);
  });

  it('rejects a manual method without an address', () => {
    const golden = readFileSync(goldenPath('address-24'), 'utf8');
    const result = nmcliRoundTrip(golden.replace(/address1=.*\n/, ''));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/ipv4/);
  });
});

describe('keyfile renderer: refuses what it must not write', () => {
  it.each<[string, Partial<NicConfig>]>([
    ['name outside multinic0-9', { name: 'eth0' }],
    ['name with a newline', { name: 'multinic0\n[ipv6]' }],
    ['MAC with a newline', { mac: 'fa:16:3e:00:00:01\nmtu=9000' }],
    ['MAC with a backslash escape', { mac: 'fa:16:3e:00:00:0\\n' }],
    ['MAC in dash form', { mac: 'fa-16-3e-00-00-01' }],
    ['address with $(id)', { address: { ip: '$(id)', prefix: 24 } }],
    ['address with a newline', { address: { ip: '10.0.0.1\n[connection]', prefix: 24 } }],
    ['prefix 33', { address: { ip: '10.0.0.1', prefix: 33 } }],
    ['mtu 65536', { mtu: 65536 }],
  ])('%s', (_label, overrides) => {
    const config: NicConfig = { ...cases['address-24']!, ...overrides };
    expect(() => renderKeyfile(config, 7)).toThrow(AgentError);
    try {
      renderKeyfile(config, 7);
    } catch (err) {
      expect((err as AgentError).kind).toBe('render');
    }
  });
});

describe('keyfile names and parsing', () => {
  it('maps names to paths and back', () => {
    expect(keyfilePath('multinic3')).toBe('/etc/NetworkManager/system-connections/multinic3.nmconnection');
    expect(nameOfKeyfile('multinic3.nmconnection')).toBe('multinic3');
    expect(nameOfKeyfile('Wired connection 1.nmconnection')).toBeNull();
    expect(nameOfKeyfile('multinic3')).toBeNull();
    expect(nameOfKeyfile('.multinic3.nmconnection.multinic-tmp')).toBeNull();
  });

  const golden = renderKeyfile(cases['address-24']!, 7);
  it.each([
    ['an unknown key', golden.replace('autoconnect=true', 'autoconnect=true\nuuid=1')],
    ['an unknown group', `${golden}\n[proxy]\n`],
    ['a group twice', `${golden}\n[ipv6]\n`],
    ['a key twice', golden.replace('mtu=1500', 'mtu=1500\nmtu=1400')],
    ['a line outside any group', golden.replace('[connection]\n', '')],
    ['an escaped value', golden.replace('id=multinic0', 'id=multinic\\s0')],
    ['DHCP', golden.replace('method=manual', 'method=auto')],
    ['IPv6 on', golden.replace('method=disabled', 'method=auto')],
    ['autoconnect off', golden.replace('autoconnect=true', 'autoconnect=false')],
    ['id differing from interface-name', golden.replace('id=multinic0', 'id=x')],
    ['a bad address', golden.replace('192.168.1.100/24', '192.168.1.300/24')],
    ['manual without address', golden.replace(/address1=.*\n/, '')],
    ['no mtu', golden.replace('mtu=1500\n', '')],
    ['a bad MAC', golden.replace('fa:16:3e:5e:62:3e', 'fa:16:3e:5e:62')],
  ])('returns null for a file not in the agent shape: %s', (_label, content) => {
    expect(parseKeyfile(content)).toBeNull();
  });

  it('reads hand edits as the values they hold (a drift, not garbage)', () => {
    const edited = golden.replace('192.168.1.100/24', '192.168.1.101/25').replace('fa:16:3e', 'FA:16:3E');
    expect(parseKeyfile(edited)).toEqual({
      ...cases['address-24'],
      address: { ip: '192.168.1.101', prefix: 25 },
    });
  });

  it("reads nmcli's rewrite with NetworkManager's defaults filled in", () => {
    const nmcli = [
      '[connection]',
      'id=multinic0',
      'uuid=6d756c74-0000-0000-0000-000000000000',
      'type=ethernet',
      'interface-name=multinic0',
      '',
      '[ethernet]',
      'mac-address=FA:16:3E:5E:62:3E',
      '',
      '[ipv4]',
      'address1=192.168.1.100/24',
      'method=manual',
      '',
      '[ipv6]',
      'addr-gen-mode=default',
      'method=disabled',
      '',
      '[proxy]',
      '',
    ].join('\n');
    expect(keyfileMeaning(nmcli)).toEqual({
      id: 'multinic0',
      type: 'ethernet',
      interfaceName: 'multinic0',
      autoconnect: true,
      mac: 'fa:16:3e:5e:62:3e',
      mtu: 0,
      ipv4Method: 'manual',
      ipv4Addresses: ['192.168.1.100/24'],
      ipv6Method: 'disabled',
    });
    expect(keyfileMeaning('not = a [keyfile')).toBeNull();
  });
});
