import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentError } from '../../src/core/errors.js';
import { ifcfgPath, nameOfIfcfgFile, parseIfcfg, renderIfcfg } from '../../src/core/ifcfg.js';
import { isOwned } from '../../src/core/ownership.js';
import type { NicConfig } from '../../src/core/types.js';
import { haveTool } from '../support/require-tool.js';

const GOLDEN = join(import.meta.dirname, '..', 'golden', 'ifcfg');

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

const goldenPath = (label: string) => join(GOLDEN, `${label}.ifcfg`);

describe('ifcfg renderer: golden files', () => {
  it.each(Object.entries(cases))('%s matches its golden file and parses back', (label, config) => {
    const rendered = renderIfcfg(config, 7);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(goldenPath(label), rendered);
    expect(rendered).toBe(readFileSync(goldenPath(label), 'utf8'));
    expect(isOwned(rendered)).toBe(true);
    expect(parseIfcfg(rendered)).toEqual(config);
  });

  it('has exactly one golden file per case (no stale goldens)', () => {
    expect(readdirSync(GOLDEN).sort()).toEqual(
      Object.keys(cases)
        .map((c) => `${c}.ifcfg`)
        .sort(),
    );
  });

  it("writes exactly the seed's keys, in the seed's order", () => {
    const keys = (text: string) =>
      text
        .split('\n')
        .filter((line) => /^[A-Z]/.test(line))
        .map((line) => line.split('=')[0]);
    expect(keys(renderIfcfg(cases['address-24']!, 7))).toEqual([
      'DEVICE',
      'NAME',
      'TYPE',
      'ONBOOT',
      'BOOTPROTO',
      'IPADDR',
      'PREFIX',
      'MTU',
      'HWADDR',
    ]);
    expect(keys(renderIfcfg(cases['link-only']!, 7))).not.toContain('IPADDR');
  });
});

/** What `bash` makes of a file: each variable, after sourcing it in an empty environment. */
function sourced(file: string): Record<string, string> {
  const names = ['DEVICE', 'NAME', 'TYPE', 'ONBOOT', 'BOOTPROTO', 'IPADDR', 'PREFIX', 'MTU', 'HWADDR'];
  const script = `. "$1"; printf '%s\\0' ${names.map((n) => `"\${${n}-<unset>}"`).join(' ')}`;
  const output = execFileSync('env', ['-i', 'bash', '-c', script, 'source-check', file], {
    encoding: 'utf8',
  });
  const values = output.split('\0');
  return Object.fromEntries(names.map((name, i) => [name, values[i] ?? '']));
}

describe.skipIf(!haveTool('/bin/bash'))(
  'golden ifcfg files as the shell sees them (sourced on RHEL 7)',
  () => {
    it.each(Object.keys(cases))('%s: bash -n accepts it', (label) => {
      expect(() => execFileSync('bash', ['-n', goldenPath(label)])).not.toThrow();
    });

    it.each(Object.entries(cases))('%s: every variable holds exactly the intended value', (label, config) => {
      expect(sourced(goldenPath(label))).toEqual({
        DEVICE: config.name,
        NAME: config.name,
        TYPE: 'Ethernet',
        ONBOOT: 'yes',
        BOOTPROTO: 'none',
        IPADDR: config.address?.ip ?? '<unset>',
        PREFIX: config.address === null ? '<unset>' : String(config.address.prefix),
        MTU: String(config.mtu),
        HWADDR: config.mac,
      });
    });

    it.each(Object.entries(cases))('%s: defines no variable beyond the seed keys', (label, config) => {
      const script =
        'before=; before=$(compgen -v | sort); . "$1"; comm -13 <(printf "%s\\n" "$before") <(compgen -v | sort)';
      const added = execFileSync('env', ['-i', 'bash', '-c', script, 'vars', goldenPath(label)], {
        encoding: 'utf8',
      });
      const expected = ['BOOTPROTO', 'DEVICE', 'HWADDR', 'MTU', 'NAME', 'ONBOOT', 'TYPE'];
      if (config.address !== null) expected.push('IPADDR', 'PREFIX');
      expect(
        added
          .split('\n')
          .filter((name) => name !== '')
          .sort(),
      ).toEqual(expected.sort());
    });
  },
);

describe('ifcfg renderer: refuses what it must not write', () => {
  it.each<[string, Partial<NicConfig>]>([
    ['name outside multinic0-9', { name: 'eth0' }],
    ['name with a newline', { name: 'multinic0\nONBOOT=no' }],
    ['name with a command substitution', { name: 'multinic$(id)' }],
    ['MAC with a newline', { mac: 'fa:16:3e:00:00:01\nBOOTPROTO=dhcp' }],
    ['MAC with a quote', { mac: 'fa:16:3e:00:00:0"' }],
    ['MAC with a backtick', { mac: '`id`:16:3e:00:00:01' }],
    ['MAC in dash form', { mac: 'fa-16-3e-00-00-01' }],
    ['MAC in upper case', { mac: 'FA:16:3E:00:00:01' }],
    ['address with a quote', { address: { ip: '10.0.0.1"', prefix: 24 } }],
    ['address with $(id)', { address: { ip: '$(id)', prefix: 24 } }],
    ['address with a newline', { address: { ip: '10.0.0.1\nMTU=9000', prefix: 24 } }],
    ['prefix 33', { address: { ip: '10.0.0.1', prefix: 33 } }],
    ['mtu 67', { mtu: 67 }],
    ['mtu not an integer', { mtu: 1500.5 }],
  ])('%s', (_label, overrides) => {
    const config: NicConfig = { ...cases['address-24']!, ...overrides };
    expect(() => renderIfcfg(config, 7)).toThrow(AgentError);
    try {
      renderIfcfg(config, 7);
    } catch (err) {
      expect((err as AgentError).kind).toBe('render');
    }
  });
});

describe('ifcfg file names and parsing', () => {
  it('maps names to paths and back', () => {
    expect(ifcfgPath('multinic3')).toBe('/etc/sysconfig/network-scripts/ifcfg-multinic3');
    expect(nameOfIfcfgFile('ifcfg-multinic3')).toBe('multinic3');
    expect(nameOfIfcfgFile('ifcfg-eth0')).toBeNull();
    expect(nameOfIfcfgFile('ifcfg-multinic10')).toBeNull();
    expect(nameOfIfcfgFile('route-multinic3')).toBeNull();
    expect(nameOfIfcfgFile('.ifcfg-multinic3.multinic-tmp')).toBeNull();
  });

  const golden = renderIfcfg(cases['address-24']!, 7);
  it.each([
    ['a command substitution', golden.replace('MTU="1500"', 'MTU="$(id)"')],
    ['a backtick', golden.replace('MTU="1500"', 'MTU=`id`')],
    ['an unterminated quote', golden.replace('MTU="1500"', 'MTU="1500')],
    ['a second statement', golden.replace('MTU="1500"', 'MTU="1500"; id')],
    ['an unknown key', `${golden}DNS1="8.8.8.8"\n`],
    ['a key twice', `${golden}MTU="1400"\n`],
    ['DHCP', golden.replace('BOOTPROTO="none"', 'BOOTPROTO="dhcp"')],
    ['ONBOOT=no', golden.replace('ONBOOT="yes"', 'ONBOOT="no"')],
    ['NAME differing from DEVICE', golden.replace('NAME="multinic0"', 'NAME="x"')],
    ['an address without prefix', golden.replace('PREFIX="24"\n', '')],
    ['a bad address', golden.replace('192.168.1.100', '192.168.1.300')],
    ['no HWADDR', golden.replace(/HWADDR=.*\n/, '')],
    ['a bad HWADDR', golden.replace('fa:16:3e:5e:62:3e', 'fa:16:3e:5e:62')],
    ['no MTU', golden.replace('MTU="1500"\n', '')],
  ])('returns null for a file not in the agent shape: %s', (_label, content) => {
    expect(parseIfcfg(content)).toBeNull();
  });

  it('reads hand edits (unquoted, single quotes, upper-case MAC) as the values they hold', () => {
    const edited = golden
      .replace('IPADDR="192.168.1.100"', 'IPADDR=192.168.1.101')
      .replace('PREFIX="24"', "PREFIX='25'")
      .replace('HWADDR="fa:16:3e:5e:62:3e"', 'HWADDR=FA:16:3E:5E:62:3E');
    expect(parseIfcfg(edited)).toEqual({
      ...cases['address-24'],
      address: { ip: '192.168.1.101', prefix: 25 },
    });
  });

  it('reads a DEVICE that differs from the file name as that name (a name drift)', () => {
    const renamed = golden.replace(/multinic0/g, 'multinic7');
    expect(parseIfcfg(renamed)?.name).toBe('multinic7');
  });
});
