// The original Go agent's files, read in their exact shape (takeover) or refused with a reason.
import { describe, expect, it } from 'vitest';
import { macsIn, readOriginalIfcfg, readOriginalNetplan } from '../../src/core/original.js';
import { renderNetplan } from '../../src/core/netplan.js';
import { goIfcfg, goNetplan } from '../support/original-files.js';

const MAC = 'fa:16:3e:00:00:05';
const config = { name: 'multinic8', mac: MAC, address: { ip: '10.0.5.10', prefix: 24 }, mtu: 1500 };

describe('readOriginalNetplan', () => {
  it('reads the original marshaller shape, and the seed example without the header', () => {
    expect(readOriginalNetplan(goNetplan('multinic8', MAC, '10.0.5.10/24'), 'multinic8')).toEqual({
      ok: true,
      config,
    });
    const seedShape = renderNetplan(config, 1).split('\n').slice(2).join('\n');
    expect(readOriginalNetplan(seedShape, 'multinic8')).toEqual({ ok: true, config });
    expect(readOriginalNetplan(goNetplan('multinic8', MAC.toUpperCase(), null, 9000), 'multinic8')).toEqual({
      ok: true,
      config: { ...config, address: null, mtu: 9000 },
    });
  });

  const good = goNetplan('multinic8', MAC, '10.0.5.10/24');
  it.each<[string, string, RegExp]>([
    ['a comment', `# edited by hand\n${good}`, /comment/],
    [
      'a second ethernet',
      good.replace('    version: 2\n', '') +
        '        multinic9:\n            set-name: multinic9\n    version: 2\n',
      /ethernets must hold multinic8 only/,
    ],
    [
      'a routes key',
      good.replace('            mtu: 1500\n', '            mtu: 1500\n            routes: []\n'),
      /unexpected key routes/,
    ],
    ['dhcp4: true', good.replace('dhcp4: false', 'dhcp4: true'), /dhcp4 is not false/],
    ['invalid YAML', 'network: [\n', /invalid YAML/],
    [
      'set-name differing from the file',
      good.replace('set-name: multinic8', 'set-name: multinic7'),
      /set-name/,
    ],
    ['another file name', good, /ethernets must hold multinic3 only/],
    [
      'a renderer key',
      good.replace('    version: 2', '    renderer: networkd\n    version: 2'),
      /version 2 and ethernets only/,
    ],
    [
      'two addresses',
      good.replace(
        '            - 10.0.5.10/24\n',
        '            - 10.0.5.10/24\n            - 10.0.5.11/24\n',
      ),
      /more than one address/,
    ],
    [
      'match by name',
      good.replace(`macaddress: ${MAC}`, `macaddress: ${MAC}\n                name: ens5`),
      /match must be macaddress only/,
    ],
  ])('refuses %s', (label, content, reason) => {
    const read = readOriginalNetplan(content, label === 'another file name' ? 'multinic3' : 'multinic8');
    expect(read.ok).toBe(false);
    expect(read.ok ? '' : read.reason).toMatch(reason);
  });
});

describe('readOriginalIfcfg', () => {
  it('reads the seed keys, unquoted', () => {
    expect(readOriginalIfcfg(goIfcfg('multinic8', MAC, '10.0.5.10/24'), 'multinic8')).toEqual({
      ok: true,
      config,
    });
    expect(readOriginalIfcfg(goIfcfg('multinic8', MAC, null), 'multinic8')).toEqual({
      ok: true,
      config: { ...config, address: null },
    });
  });

  const good = goIfcfg('multinic8', MAC, '10.0.5.10/24');
  it.each<[string, string, RegExp]>([
    ['a comment', `# hand\n${good}`, /comment/],
    ['an extra key', `${good}GATEWAY=10.0.5.1\n`, /unexpected key GATEWAY/],
    ['quoted values (not what the original writes)', good.replace('MTU=1500', 'MTU="1500"'), /not KEY=value/],
    ['BOOTPROTO=dhcp', good.replace('BOOTPROTO=none', 'BOOTPROTO=dhcp'), /other values/],
    ['shell syntax', good.replace('MTU=1500', 'MTU=$(reboot)'), /not KEY=value/],
    ['DEVICE of another NIC', good.replace(/multinic8/g, 'multinic2'), /DEVICE is not multinic8/],
  ])('refuses %s', (_label, content, reason) => {
    const read = readOriginalIfcfg(content, 'multinic8');
    expect(read.ok).toBe(false);
    expect(read.ok ? '' : read.reason).toMatch(reason);
  });
});

describe('macsIn', () => {
  it('finds every MAC a file mentions, in any case or separator', () => {
    expect(macsIn(`a: FA-16-3E-00-00-05\nb: "fa:16:3e:00:00:06"\nc: fa:16:3e:00:00:05`)).toEqual([
      'fa:16:3e:00:00:05',
      'fa:16:3e:00:00:06',
    ]);
  });
});
