import { describe, expect, it } from 'vitest';
import { plan } from '../../src/core/plan.js';
import { netplanPath } from '../../src/core/netplan.js';
import { readOriginalNetplan } from '../../src/core/original.js';
import type { Change, InterfaceRow, Observed, OtherFile, Plan, RowElsewhere } from '../../src/core/types.js';
import { goNetplan } from '../support/original-files.js';
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

/** The plan of a host in sync with 3 NICs after `mutate`, also on the second sight (orphan debounce). */
function bothSights(mutate: Mutate, elsewhere: RowElsewhere[] = [], count = 3): Plan[] {
  const first = inSync(count);
  mutate(first.rows, first.observed);
  const firstPlan = plan(first.rows, first.observed, elsewhere);
  const second = inSync(count);
  mutate(second.rows, second.observed);
  second.observed.orphanCandidates = firstPlan.orphanCandidates.concat(
    second.observed.files.map((file) => file.name),
  );
  return [firstPlan, plan(second.rows, second.observed, elsewhere)];
}

describe('plan: a row that turns bad holds the NIC it configured (never an orphan)', () => {
  it.each<[string, Mutate, string]>([
    ['invalid MAC', (rows) => (rows[1]!.macaddress = 'zz:zz:zz:zz:zz:zz'), 'invalid MAC'],
    ['MAC NULL', (rows) => (rows[1]!.macaddress = null), 'MAC is missing'],
    ['invalid address', (rows) => (rows[1]!.address = '10.0.1.500'), 'invalid address'],
    ['address outside its network', (rows) => (rows[1]!.address = '10.9.9.9'), 'outside network'],
    ['invalid cidr', (rows) => (rows[1]!.cidr = '10.0.1.0/33'), 'invalid network'],
    ['invalid MTU', (rows) => (rows[1]!.mtu = 0), 'invalid MTU'],
    ['port_id NULL', (rows) => (rows[1]!.port_id = null), 'missing'],
    ['duplicate MAC (row 1 has it)', (rows) => (rows[1]!.macaddress = macOf(0)), 'row 1 has the same MAC'],
    [
      'duplicate address (row 1 has it)',
      (rows) => Object.assign(rows[1]!, { address: '10.0.0.10', cidr: '10.0.0.0/24' }),
      'row 1 has the same address',
    ],
    [
      'protected (the default-route NIC)',
      (rows) => (rows[1]!.macaddress = 'fa:16:3e:ff:ff:00'),
      'protected: eth0',
    ],
    ['a new MAC not on the host yet', (rows) => (rows[1]!.macaddress = macOf(7)), 'waiting for NIC'],
    [
      'a query that returned no columns but the id',
      (rows) => (rows[1] = { id: 2 } as unknown as InterfaceRow),
      'MAC is missing',
    ],
  ])('%s: no change, multinic1 held with the reason, on first and second sight', (_label, mutate, reason) => {
    for (const result of bothSights(mutate)) {
      expect(summary(result.changes)).toEqual([]);
      expect(result.orphanCandidates).toEqual([]);
      expect(result.held.map((h) => [h.file.name, h.rowId])).toEqual([['multinic1', 2]]);
      expect(result.held[0]?.reason).toContain(reason);
      expect(result.rows.find((r) => r.id === 2)?.state).toBe('rejected');
    }
  });

  it('capacity: a converged row whose new MAC finds no free name holds its old NIC', () => {
    const { rows, observed } = inSync(10);
    rows[4]!.macaddress = macOf(20);
    observed.links.push({ name: 'ens20', mac: macOf(20), mtu: 1500, ipv4: [] });
    observed.orphanCandidates = ['multinic4'];
    const result = plan(rows, observed);
    expect(result.changes).toEqual([]);
    expect(result.held.map((h) => [h.file.name, h.rowId])).toEqual([['multinic4', 5]]);
    expect(result.held[0]?.reason).toContain('capacity');
  });

  it('the row fixed again: in sync, nothing held, nothing to apply', () => {
    const result = planWith((rows) => (rows[1]!.macaddress = 'FA-16-3E-00-00-01'));
    expect(result.changes).toEqual([]);
    expect(result.held).toEqual([]);
  });

  it('duplicate address: the lower id wins even when it is itself invalid', () => {
    const result = planWith((rows) => {
      rows[0]!.mtu = 0;
      rows[1]!.address = '10.0.0.10';
      rows[1]!.cidr = '10.0.0.0/24';
    });
    expect(result.rows.find((r) => r.id === 2)).toMatchObject({
      state: 'rejected',
      problem: { kind: 'duplicate', field: 'address', winnerId: 1 },
    });
    expect(result.held.map((h) => h.rowId)).toEqual([1, 2]);
  });
});

describe('plan: only a row that is gone removes (item 3 and 4 of issue 12)', () => {
  const gone: Mutate = (rows) => rows.splice(1, 1);
  it.each<[string, Mutate, RowElsewhere[], string[], string[]]>([
    ['row deleted (not returned)', gone, [], ['multinic1'], ['remove multinic1 orphan']],
    [
      'row moved to another node, its NIC gone from the host',
      (rows, o) => {
        gone(rows, o);
        o.links = o.links.filter((l) => l.name !== 'multinic1');
      },
      [{ id: 2, node: 'worker-2' }],
      ['multinic1'],
      ['remove multinic1 orphan'],
    ],
    [
      'row attached to no node, its NIC gone from the host',
      (rows, o) => {
        gone(rows, o);
        o.links = o.links.filter((l) => l.name !== 'multinic1');
      },
      [{ id: 2, node: null }],
      ['multinic1'],
      ['remove multinic1 orphan'],
    ],
  ])('%s: candidate first, removed on the second sight', (_label, mutate, elsewhere, candidates, second) => {
    const [first, next] = bothSights(mutate, elsewhere);
    expect(first!.changes).toEqual([]);
    expect(first!.orphanCandidates).toEqual(candidates);
    expect(summary(next!.changes)).toEqual(second);
    expect(next!.held).toEqual([]);
  });

  it.each<[string, RowElsewhere[], string]>([
    ['row moved to another node while its NIC is still here', [{ id: 2, node: 'worker-2' }], 'node worker-2'],
    ['row attached to no node while its NIC is still here', [{ id: 2, node: null }], 'no node'],
  ])('%s: held, never removed', (_label, elsewhere, where) => {
    for (const result of bothSights(gone, elsewhere)) {
      expect(result.changes).toEqual([]);
      expect(result.orphanCandidates).toEqual([]);
      expect(result.held.map((h) => [h.file.name, h.rowId])).toEqual([['multinic1', 2]]);
      expect(result.held[0]?.reason).toContain(where);
    }
  });

  it('node name changed (every row now names the old host name, NICs still here): everything held', () => {
    const elsewhere = [1, 2, 3].map((id) => ({ id, node: 'old-hostname' }));
    for (const result of bothSights((rows) => rows.splice(0), elsewhere)) {
      expect(result.changes).toEqual([]);
      expect(result.held.map((h) => h.file.name)).toEqual(['multinic0', 'multinic1', 'multinic2']);
      expect(result.held[0]?.reason).toContain('NODE_NAME');
    }
  });

  it('an empty result with the rows gone from the table: removal after the debounce (ports deleted)', () => {
    const [first, next] = bothSights((rows) => rows.splice(0));
    expect(first!.orphanCandidates).toEqual(['multinic0', 'multinic1', 'multinic2']);
    expect(summary(next!.changes)).toEqual([
      'remove multinic0 orphan',
      'remove multinic1 orphan',
      'remove multinic2 orphan',
    ]);
  });

  it('port swap: a valid row naming another MAC removes the old NIC at once and configures the new one', () => {
    const result = planWith((rows, o) => {
      rows[1]!.macaddress = macOf(7);
      o.links.push({ name: 'ens9', mac: macOf(7), mtu: 1500, ipv4: [] });
    });
    expect(summary(result.changes)).toEqual(['create multinic3 missing_file', 'remove multinic1 orphan']);
    const removal = result.changes[1];
    expect(removal?.kind === 'remove' && removal.liveName).toBe('multinic1');
    expect(result.held).toEqual([]);
  });

  it('a second file of a NIC that is configured is removed without flushing the NIC', () => {
    const result = planWith((_rows, o) => {
      o.files.push(ownedFile(configOf(0, { name: 'multinic5' }), 'multinic5', 1));
    });
    expect(summary(result.changes)).toEqual(['remove multinic5 orphan']);
    expect(result.changes[0]?.kind === 'remove' && result.changes[0].liveName).toBeNull();
  });
});

describe('plan: files of format 1 (no row id)', () => {
  const formatOne: Mutate = (_rows, o) => {
    o.files = o.files.map((file) => ({ ...file, rowId: null, format: 1 }));
  };
  it('are claimed by MAC and their header recorded, nothing applied', () => {
    const result = planWith(formatOne);
    expect(summary(result.changes)).toEqual([
      'record multinic0 owner',
      'record multinic1 owner',
      'record multinic2 owner',
    ]);
  });

  it('a header naming another id (table restored with new ids) is recorded', () => {
    const result = planWith((rows) => (rows[1]!.id = 12));
    expect(summary(result.changes)).toEqual(['record multinic1 owner']);
  });

  it('with a file drift too, one update carries the header', () => {
    const result = planWith((rows, o) => {
      formatOne(rows, o);
      rows[0]!.mtu = 9000;
    });
    expect(summary(result.changes)[0]).toBe('update multinic0 mtu,owner');
  });

  it('are held while a row of the node has a MAC that cannot be read', () => {
    for (const result of bothSights((rows, o) => {
      formatOne(rows, o);
      rows[1]!.macaddress = 'zz:zz:zz:zz:zz:zz';
    })) {
      expect(result.changes.filter((c) => c.kind === 'remove')).toEqual([]);
      expect(result.held.map((h) => [h.file.name, h.rowId])).toEqual([['multinic1', null]]);
    }
  });

  it('are held for a refused row that still has their MAC', () => {
    const [, next] = bothSights((rows, o) => {
      formatOne(rows, o);
      rows[1]!.mtu = 0;
    });
    expect(next!.changes.filter((c) => c.kind === 'remove')).toEqual([]);
    expect(next!.held.map((h) => [h.file.name, h.rowId])).toEqual([['multinic1', 2]]);
  });

  it('are orphaned when no row has their MAC and every MAC can be read', () => {
    const [first, next] = bothSights((rows, o) => {
      formatOne(rows, o);
      rows.splice(1, 1);
    });
    expect(first!.orphanCandidates).toEqual(['multinic1']);
    expect(summary(next!.changes)).toContain('remove multinic1 orphan');
  });
});

/** The original agent's file for `name`, as the scan reports it (adoptable, or foreign with a reason). */
function original(
  name: string,
  n: number,
  address: string | null = `10.0.${n}.10/24`,
  mtu = 1500,
): OtherFile {
  const content = goNetplan(name, macOf(n), address, mtu);
  const read = readOriginalNetplan(content, name);
  return {
    path: netplanPath(name),
    name,
    original: read.ok ? read.config : null,
    reason: read.ok ? '' : read.reason,
    macs: [macOf(n)],
    content,
  };
}

describe("plan: taking over the original agent's files", () => {
  /** Host NICs 0..2 as the original left them: its files, names (row 0's MAC on multinic8), addresses. */
  const left: Mutate = (_rows, o) => {
    o.files = [];
    const names = ['multinic8', 'multinic1', 'multinic2'];
    o.others = names.map((name, n) => original(name, n));
    o.reservedNames = [...names];
    o.links = o.links.map((l, i) => (i === 0 ? l : { ...l, name: names[i - 1] ?? l.name }));
  };

  it('adopts each file under its own name, nothing to apply when it equals its row', () => {
    const result = planWith(left);
    expect(summary(result.changes)).toEqual(['adopt multinic8 ', 'adopt multinic1 ', 'adopt multinic2 ']);
    expect(result.changes.map((c) => (c.kind === 'adopt' ? c.nic.id : null))).toEqual([1, 2, 3]);
    expect(result.foreign).toEqual([]);
  });

  it('adopts a file that differs from its row as an update of what differs', () => {
    const result = planWith((rows, o) => {
      left(rows, o);
      rows[1]!.mtu = 9000;
    });
    expect(summary(result.changes)[1]).toBe('adopt multinic1 mtu,live_mtu');
  });

  it('leaves a file whose MAC is on no row alone, reports it, never uses its name', () => {
    const result = planWith((rows, o) => {
      left(rows, o);
      rows.splice(2, 1);
    });
    expect(summary(result.changes)).toEqual(['adopt multinic8 ', 'adopt multinic1 ']);
    expect(result.foreign).toEqual([
      {
        path: '/etc/netplan/92-multinic2.yaml',
        reason: "in the original agent's shape, but its MAC is on no valid row of this node",
      },
    ]);
    expect(result.orphanCandidates).toEqual([]);
  });

  it('refuses a row whose NIC a foreign file configures, naming the file', () => {
    const result = planWith((rows, o) => {
      left(rows, o);
      o.others[1] = {
        ...original('multinic1', 1),
        original: null,
        reason: "not in the original agent's shape: a routes key",
      };
    });
    expect(summary(result.changes)).toEqual(['adopt multinic8 ', 'adopt multinic2 ']);
    expect(result.rows.find((r) => r.id === 2)).toMatchObject({
      state: 'rejected',
      problem: {
        kind: 'foreign',
        reason: 'held by a file multinic-agent does not own: /etc/netplan/91-multinic1.yaml',
      },
    });
  });

  it('with adoption off (the scan gives no original), every file is foreign and every row refused', () => {
    const result = planWith((rows, o) => {
      left(rows, o);
      o.others = o.others.map((other) => ({ ...other, original: null, reason: 'adoption is off' }));
    });
    expect(result.changes).toEqual([]);
    expect(result.foreign.map((f) => f.reason)).toEqual([
      'adoption is off',
      'adoption is off',
      'adoption is off',
    ]);
    expect(result.rows.map((r) => r.state === 'rejected' && r.problem.kind)).toEqual([
      'foreign',
      'foreign',
      'foreign',
    ]);
  });
});
