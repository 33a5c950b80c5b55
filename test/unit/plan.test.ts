import { describe, expect, it } from 'vitest';
import { plan } from '../../src/core/plan.js';
import type { Change, InterfaceRow, Observed, Plan } from '../../src/core/types.js';
import { configOf, inSync, linkOf, macOf, ownedFile, rowOf } from '../support/fixtures.js';

type Mutate = (rows: InterfaceRow[], observed: Observed) => void;

function planWith(mutate: Mutate, count = 3): Plan {
  const { rows, observed } = inSync(count);
  mutate(rows, observed);
  return plan(rows, observed);
}

function summary(changes: readonly Change[]): string[] {
  return changes.map((change) => {
    const name = change.kind === 'remove' ? change.file.name : change.nic.name;
    return `${change.kind} ${name} ${change.drifts.join(',')}`;
  });
}

function link(observed: Observed, name: string) {
  const found = observed.links.find((l) => l.name === name);
  if (found === undefined) throw new Error(`no link ${name}`);
  return found;
}

describe('plan: baseline', () => {
  it('returns an empty plan when everything is in sync, every row in_sync', () => {
    const result = planWith(() => {}, 10);
    expect(result.changes).toEqual([]);
    expect(result.orphanCandidates).toEqual([]);
    expect(result.rows.map((r) => r.state)).toEqual(Array(10).fill('in_sync'));
  });
});

describe('plan: one difference from the baseline', () => {
  it.each<[string, Mutate, string[]]>([
    [
      'new row, NIC present',
      (rows, o) => {
        rows.push(rowOf(3));
        o.links.push({ name: 'ens7', mac: macOf(3), mtu: 1500, ipv4: [] });
      },
      ['create multinic3 missing_file'],
    ],
    ['file deleted by hand', (_rows, o) => o.files.splice(1, 1), ['create multinic1 missing_file']],
    ['address changed', (rows) => (rows[1]!.address = '10.0.1.11'), ['update multinic1 address']],
    [
      'network changed to /16',
      (rows) => Object.assign(rows[1]!, { cidr: '10.0.0.0/16' }),
      ['update multinic1 prefix'],
    ],
    ['mtu changed', (rows) => (rows[2]!.mtu = 9000), ['update multinic2 mtu']],
    ['mtu NULL is 1500: no change', (rows) => (rows[2]!.mtu = null), []],
    [
      'address removed (link only)',
      (rows) => Object.assign(rows[0]!, { address: null, cidr: null }),
      ['update multinic0 address'],
    ],
    [
      'file MAC edited by hand',
      (_rows, o) => {
        o.files[0] = ownedFile(configOf(0, { mac: 'fa:16:3e:99:99:99' }));
      },
      ['update multinic0 mac'],
    ],
    [
      'file set-name edited by hand',
      (_rows, o) => {
        o.files[0] = ownedFile(configOf(0, { name: 'multinic7' }), 'multinic0');
      },
      ['update multinic0 name'],
    ],
    [
      'file unparsable',
      (_rows, o) => {
        o.files[0] = { ...o.files[0]!, config: null };
      },
      ['update multinic0 unparsable_file'],
    ],
    [
      'live address removed by hand',
      (_rows, o) => (link(o, 'multinic1').ipv4 = []),
      ['reapply multinic1 live_address'],
    ],
    [
      'live extra address',
      (_rows, o) => {
        link(o, 'multinic1').ipv4.push({ ip: '10.0.1.99', prefix: 24 });
      },
      ['reapply multinic1 stale_address'],
    ],
    [
      'live mtu changed by hand',
      (_rows, o) => (link(o, 'multinic2').mtu = 1400),
      ['reapply multinic2 live_mtu'],
    ],
    [
      'live link not renamed yet',
      (_rows, o) => (link(o, 'multinic2').name = 'ens9'),
      ['reapply multinic2 live_name'],
    ],
    ['row deleted, first sight: candidate only', (rows) => rows.splice(2, 1), []],
    [
      'row deleted, second sight: removed',
      (rows, o) => {
        rows.splice(2, 1);
        o.orphanCandidates = ['multinic2'];
      },
      ['remove multinic2 orphan'],
    ],
  ])('%s', (_label, mutate, expected) => {
    expect(summary(planWith(mutate).changes)).toEqual(expected);
  });

  it('marks a changed row as change and leaves the others in sync', () => {
    const result = planWith((rows) => (rows[1]!.mtu = 9000));
    expect(result.rows.map((r) => [r.id, r.state])).toEqual([
      [1, 'in_sync'],
      [2, 'change'],
      [3, 'in_sync'],
    ]);
  });

  it('carries the desired configuration in the change', () => {
    const [change] = planWith((rows) => (rows[1]!.address = '10.0.1.11')).changes;
    expect(change?.kind === 'update' && change.nic).toEqual({
      id: 2,
      name: 'multinic1',
      mac: macOf(1),
      address: { ip: '10.0.1.11', prefix: 24 },
      mtu: 1500,
    });
  });

  it('remembers a first-sight orphan as candidate', () => {
    expect(planWith((rows) => rows.splice(2, 1)).orphanCandidates).toEqual(['multinic2']);
  });

  it('flushes the live link of a removed orphan', () => {
    const [change] = planWith((rows, o) => {
      rows.splice(2, 1);
      o.orphanCandidates = ['multinic2'];
    }).changes;
    expect(change?.kind === 'remove' && change.liveName).toBe('multinic2');
  });
});

describe('plan: rows that must not be configured', () => {
  it('waits for a NIC that is not on the host, writing nothing', () => {
    const result = planWith((rows) => rows.push(rowOf(5)));
    expect(result.changes).toEqual([]);
    expect(result.rows.at(-1)).toMatchObject({ id: 6, state: 'rejected', problem: { kind: 'waiting' } });
  });

  it('refuses the NIC holding the default route', () => {
    const result = planWith((rows) => rows.push(rowOf(3, { macaddress: 'fa:16:3e:ff:ff:00' })));
    expect(result.changes).toEqual([]);
    expect(result.rows.at(-1)).toMatchObject({
      state: 'rejected',
      problem: { kind: 'protected', interfaceName: 'eth0' },
    });
  });

  it('refuses an interface someone else configured', () => {
    const result = planWith((rows, o) => {
      rows.push(rowOf(3));
      o.links.push({ name: 'ens8', mac: macOf(3), mtu: 1500, ipv4: [{ ip: '172.16.0.2', prefix: 24 }] });
    });
    expect(result.changes).toEqual([]);
    expect(result.rows.at(-1)).toMatchObject({ problem: { kind: 'protected', interfaceName: 'ens8' } });
  });

  it('keeps the working file of a row that became invalid (no orphan removal)', () => {
    const result = planWith((rows, o) => {
      rows[1]!.mtu = 0;
      o.orphanCandidates = ['multinic1'];
    });
    expect(result.changes).toEqual([]);
    expect(result.orphanCandidates).toEqual([]);
    expect(result.rows[1]).toMatchObject({ state: 'rejected', problem: { kind: 'invalid', field: 'mtu' } });
  });

  it('configures the ten lowest ids and refuses the eleventh', () => {
    const { rows, observed } = inSync(10);
    rows.push(rowOf(10));
    observed.links.push({ name: 'ens20', mac: macOf(10), mtu: 1500, ipv4: [] });
    const result = plan(rows, observed);
    expect(result.changes).toEqual([]);
    expect(result.rows.at(-1)).toMatchObject({ id: 11, problem: { kind: 'capacity', field: 'macaddress' } });
  });

  it('gives two new NICs in one cycle distinct lowest free names in id order', () => {
    const result = planWith((rows, o) => {
      rows.splice(1, 1);
      o.files.splice(1, 1);
      o.links.splice(2, 1);
      rows.push(rowOf(8), rowOf(9));
      o.links.push({ name: 'ens9', mac: macOf(9), mtu: 1500, ipv4: [] });
      o.links.push({ name: 'ens8', mac: macOf(8), mtu: 1500, ipv4: [] });
    });
    expect(summary(result.changes)).toEqual([
      'create multinic1 missing_file',
      'create multinic3 missing_file',
    ]);
    const names = result.changes.map((c) => (c.kind === 'create' ? [c.nic.id, c.nic.name] : null));
    expect(names).toEqual([
      [9, 'multinic1'],
      [10, 'multinic3'],
    ]);
  });

  it('never takes a name whose file belongs to someone else', () => {
    const result = planWith((rows, o) => {
      rows.push(rowOf(3));
      o.links.push(linkOf(configOf(3), { name: 'ens7', ipv4: [] }));
      o.reservedNames = ['multinic3'];
    });
    expect(summary(result.changes)).toEqual(['create multinic4 missing_file']);
  });

  it('removes a second file claiming a MAC that already has its name', () => {
    const result = planWith((_rows, o) => {
      o.files.push(ownedFile(configOf(0, { name: 'multinic5' })));
      o.orphanCandidates = ['multinic5'];
    });
    expect(summary(result.changes)).toEqual(['remove multinic5 orphan']);
  });
});
