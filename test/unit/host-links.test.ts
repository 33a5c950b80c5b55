import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseDefaultRoutes, prefixOf, readDefaultRouteInterfaces, readLinks } from '../../src/host/links.js';

let sys: string;

beforeEach(() => {
  sys = mkdtempSync(path.join(os.tmpdir(), 'multinic-sysfs-'));
});

afterEach(() => {
  rmSync(sys, { recursive: true, force: true });
});

function fakeLink(name: string, attrs: { address?: string; mtu?: string; type?: string }): void {
  const dir = path.join(sys, name);
  mkdirSync(dir);
  for (const [key, value] of Object.entries(attrs)) writeFileSync(path.join(dir, key), `${value}\n`);
}

function v4(address: string, netmask: string): os.NetworkInterfaceInfo {
  return { address, netmask, family: 'IPv4', mac: '00:00:00:00:00:00', internal: false, cidr: null };
}

function v6(address: string): os.NetworkInterfaceInfo {
  return {
    address,
    netmask: 'ffff:ffff:ffff:ffff::',
    family: 'IPv6',
    mac: '00:00:00:00:00:00',
    internal: false,
    cidr: null,
    scopeid: 0,
  };
}

describe('readLinks', () => {
  it('reads Ethernet links from sysfs with their IPv4 addresses', async () => {
    fakeLink('lo', { address: '00:00:00:00:00:00', mtu: '65536', type: '772' });
    fakeLink('eth0', { address: 'FA:16:3E:00:00:01', mtu: '1500', type: '1' });
    fakeLink('multinic0', { address: 'fa:16:3e:00:00:02', mtu: '9000', type: '1' });
    fakeLink('ens5', { address: 'fa:16:3e:00:00:03', mtu: '1450', type: '1' });
    fakeLink('ipip0', { address: '00:00:00:00', mtu: '1480', type: '768' });
    fakeLink('loopish', { address: '00:00:00:00:00:00', mtu: '1500', type: '772' });
    fakeLink('vanishing', { mtu: '1500', type: '1' });
    const interfaces = () => ({
      lo: [v4('127.0.0.1', '255.0.0.0')],
      eth0: [v4('10.0.0.5', '255.255.255.0'), v6('fe80::1')],
      multinic0: [v4('192.168.1.10', '255.255.255.252'), v4('192.168.2.10', '255.255.0.0')],
      'multinic0:1': [v4('192.168.3.10', '255.255.255.255')],
      vanishing: [v4('10.9.9.9', '255.255.255.0')],
    });
    const links = await readLinks({ sysClassNet: sys, interfaces });
    expect(links).toEqual([
      { name: 'ens5', mac: 'fa:16:3e:00:00:03', mtu: 1450, ipv4: [] },
      { name: 'eth0', mac: 'fa:16:3e:00:00:01', mtu: 1500, ipv4: [{ ip: '10.0.0.5', prefix: 24 }] },
      {
        name: 'multinic0',
        mac: 'fa:16:3e:00:00:02',
        mtu: 9000,
        ipv4: [
          { ip: '192.168.1.10', prefix: 30 },
          { ip: '192.168.2.10', prefix: 16 },
          { ip: '192.168.3.10', prefix: 32 },
        ],
      },
    ]);
  });

  it('skips a link without a type file (it disappeared while being read)', async () => {
    fakeLink('eth1', { address: 'fa:16:3e:00:00:04', mtu: '1500' });
    expect(await readLinks({ sysClassNet: sys, interfaces: () => ({}) })).toEqual([]);
  });

  it('fails with io when the sysfs directory is absent', async () => {
    await expect(readLinks({ sysClassNet: path.join(sys, 'absent') })).rejects.toMatchObject({ kind: 'io' });
  });

  it('reads this machine without error (read-only)', async () => {
    const links = await readLinks({ sysClassNet: '/sys/class/net' });
    for (const link of links) {
      expect(link.name).not.toBe('lo');
      expect(link.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
      expect(Number.isInteger(link.mtu) && link.mtu > 0).toBe(true);
      for (const a of link.ipv4) {
        expect(a.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
        expect(a.prefix).toBeGreaterThanOrEqual(0);
        expect(a.prefix).toBeLessThanOrEqual(32);
      }
    }
    // Every up Ethernet-like interface that has an IPv4 address shows it.
    const expected = Object.entries(os.networkInterfaces())
      .filter(
        ([name, infos]) => links.some((l) => l.name === name) && infos?.some((i) => i.family === 'IPv4'),
      )
      .map(([name]) => name);
    for (const name of expected) expect(links.find((l) => l.name === name)?.ipv4.length).toBeGreaterThan(0);
  });
});

describe('prefixOf', () => {
  it.each([
    ['255.255.255.0', 24],
    ['255.255.255.252', 30],
    ['255.255.255.255', 32],
    ['0.0.0.0', 0],
    ['255.255.128.0', 17],
    ['255.0.255.0', null],
    ['255.255.255', null],
    ['256.0.0.0', null],
  ])('%s → %s', (mask, prefix) => {
    expect(prefixOf(mask)).toBe(prefix);
  });
});

const ROUTES = [
  'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
  'eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0',
  'eth0\t0000000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0',
  'multinic0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
  'ens4\t00000000\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0',
  'eth1\t00000000\t0101A8C0\t0003\t0\t0\t200\t00000000\t0\t0\t0',
  'eth0\t00000000\t0200000A\t0003\t0\t0\t300\t00000000\t0\t0\t0',
  '',
].join('\n');

describe('default route', () => {
  it('parses the interfaces of default routes only', () => {
    expect(parseDefaultRoutes(ROUTES)).toEqual(['eth0', 'eth1']);
  });

  it('reads the file, and [] when it is absent', async () => {
    const file = path.join(sys, 'route');
    writeFileSync(file, ROUTES);
    expect(await readDefaultRouteInterfaces(file)).toEqual(['eth0', 'eth1']);
    expect(await readDefaultRouteInterfaces(path.join(sys, 'absent'))).toEqual([]);
  });

  it('returns [] for a table without a default route or without a header', () => {
    expect(parseDefaultRoutes(ROUTES.split('\n').slice(0, 1).join('\n'))).toEqual([]);
    expect(parseDefaultRoutes('')).toEqual([]);
    expect(parseDefaultRoutes('eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0')).toEqual([]);
  });
});
