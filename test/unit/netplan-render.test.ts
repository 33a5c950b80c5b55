import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentError } from '../../src/core/errors.js';
import { isOwned } from '../../src/core/ownership.js';
import { nameOfNetplanFile, netplanPath, parseNetplan, renderNetplan } from '../../src/core/netplan.js';
import type { NicConfig } from '../../src/core/types.js';
import { haveTool } from '../support/require-tool.js';

const GOLDEN = join(import.meta.dirname, '..', 'golden', 'netplan');

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

describe('netplan renderer: golden files', () => {
  it.each(Object.entries(cases))('%s matches its golden file and parses back', (label, config) => {
    const rendered = renderNetplan(config, 7);
    const goldenPath = join(GOLDEN, `${label}.yaml`);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(goldenPath, rendered);
    expect(rendered).toBe(readFileSync(goldenPath, 'utf8'));
    expect(isOwned(rendered)).toBe(true);
    expect(parseNetplan(rendered)).toEqual(config);
  });

  it('has exactly one golden file per case (no stale goldens)', () => {
    expect(readdirSync(GOLDEN).sort()).toEqual(
      Object.keys(cases)
        .map((c) => `${c}.yaml`)
        .sort(),
    );
  });
});

describe('netplan renderer: refuses what it must not write', () => {
  it.each<[string, Partial<NicConfig>]>([
    ['name outside multinic0-9', { name: 'eth0' }],
    ['MAC with a newline', { mac: 'fa:16:3e:00:00:01\n  dhcp4: true' }],
    ['MAC in upper case', { mac: 'FA:16:3E:00:00:01' }],
    ['address with a quote', { address: { ip: '10.0.0.1"', prefix: 24 } }],
    ['prefix 33', { address: { ip: '10.0.0.1', prefix: 33 } }],
    ['mtu 67', { mtu: 67 }],
  ])('%s', (_label, overrides) => {
    const config: NicConfig = { ...cases['address-24']!, ...overrides };
    expect(() => renderNetplan(config, 7)).toThrow(AgentError);
  });
});

describe('netplan file names and parsing', () => {
  it('maps names to paths and back', () => {
    expect(netplanPath('multinic3')).toBe('/etc/netplan/93-multinic3.yaml');
    expect(nameOfNetplanFile('93-multinic3.yaml')).toBe('multinic3');
    expect(nameOfNetplanFile('93-multinic4.yaml')).toBeNull();
    expect(nameOfNetplanFile('50-cloud-init.yaml')).toBeNull();
    expect(nameOfNetplanFile('.93-multinic3.yaml.multinic-tmp')).toBeNull();
  });
  it.each([
    ['bad YAML', 'network: [\n'],
    [
      'extra key',
      renderNetplan(cases['address-24']!, 7).replace('      mtu: 1500', '      mtu: 1500\n      dhcp4: true'),
    ],
    ['two addresses', renderNetplan(cases['address-24']!, 7).replace('"]', '", "10.0.0.2/24"]')],
    [
      'key differs from set-name',
      renderNetplan(cases['address-24']!, 7).replace('set-name: multinic0', 'set-name: x'),
    ],
    ['no mtu', renderNetplan(cases['address-24']!, 7).replace('      mtu: 1500\n', '')],
  ])('returns null for a file not in the agent shape: %s', (_label, content) => {
    expect(parseNetplan(content)).toBeNull();
  });
  it('reads a hand-edited address as the new address (drift, not garbage)', () => {
    const edited = renderNetplan(cases['address-24']!, 7).replace('192.168.1.100/24', '192.168.1.101/25');
    expect(parseNetplan(edited)?.address).toEqual({ ip: '192.168.1.101', prefix: 25 });
  });
});

const NETPLAN = '/usr/sbin/netplan';
const scratch: string[] = [];
afterAll(() => scratch.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function netplanGenerate(files: Record<string, string>): { code: number; output: string } {
  const root = mkdtempSync(join(tmpdir(), 'netplan-golden-'));
  scratch.push(root);
  mkdirSync(join(root, 'etc', 'netplan'), { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    const path = join(root, 'etc', 'netplan', name);
    writeFileSync(path, content);
    chmodSync(path, 0o600);
  }
  try {
    const output = execFileSync(NETPLAN, ['generate', '--root-dir', root], {
      encoding: 'utf8',
      stdio: 'pipe',
    });
    const rendered = readdirSync(join(root, 'run', 'systemd', 'network')).join(' ');
    return { code: 0, output: `${output}${rendered}` };
  } catch (err) {
    const e = err as { status: number; stderr: string };
    return { code: e.status, output: e.stderr };
  }
}

describe.skipIf(!haveTool(NETPLAN))('golden files through the real `netplan generate --root-dir`', () => {
  it.each(Object.keys(cases))('%s is accepted and rendered for networkd', (label) => {
    const name = cases[label]!.name;
    const result = netplanGenerate({
      [`${label}.yaml`]: readFileSync(join(GOLDEN, `${label}.yaml`), 'utf8'),
    });
    expect(result.code).toBe(0);
    expect(result.output).toContain(`10-netplan-${name}.network`);
    expect(result.output).toContain(`10-netplan-${name}.link`);
  });

  it('all golden files together are accepted (the agent validates the whole set at once)', () => {
    const files = Object.fromEntries(
      readdirSync(GOLDEN).map((f) => [f, readFileSync(join(GOLDEN, f), 'utf8')]),
    );
    expect(netplanGenerate(files).code).toBe(0);
  });

  it('rejects a file whose value the renderer would refuse (the validator is real)', () => {
    const bad = readFileSync(join(GOLDEN, 'address-24.yaml'), 'utf8').replace('mtu: 1500', 'mtu: abc');
    const result = netplanGenerate({ '90-multinic0.yaml': bad });
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/90-multinic0\.yaml:\d+:\d+/);
  });
});
