import { describe, expect, it } from 'vitest';
import type { InterfaceRow } from '../../src/core/types.js';
import { validateRow, validateRows } from '../../src/core/validate.js';

function row(overrides: Partial<InterfaceRow> = {}): InterfaceRow {
  return {
    id: 1,
    port_id: '3f1b2c4d-0000-4000-8000-000000000001',
    subnet_id: '9a8b7c6d-0000-4000-8000-000000000001',
    macaddress: 'fa:16:3e:00:00:01',
    attached_node_name: 'worker-1',
    netplan_success: 0,
    address: '10.0.1.10',
    cidr: '10.0.1.0/24',
    mtu: 1500,
    ...overrides,
  };
}

describe('validateRow: accepted', () => {
  it('normalises a MAC in "-" form and upper case', () => {
    const result = validateRow(row({ macaddress: 'FA-16-3E-AB-CD-EF' }));
    expect(result).toEqual({
      ok: true,
      nic: { id: 1, mac: 'fa:16:3e:ab:cd:ef', address: { ip: '10.0.1.10', prefix: 24 }, mtu: 1500 },
    });
  });
  it('takes 1500 for a NULL mtu', () => {
    const result = validateRow(row({ mtu: null }));
    expect(result.ok && result.nic.mtu).toBe(1500);
  });
  it('configures link only for a NULL address', () => {
    const result = validateRow(row({ address: null, cidr: null }));
    expect(result.ok && result.nic.address).toBeNull();
  });
  it.each([68, 9000, 65535])('accepts mtu %i', (mtu) => {
    expect(validateRow(row({ mtu })).ok).toBe(true);
  });
  it('accepts /31 and /32 networks whose address is the network base', () => {
    expect(validateRow(row({ address: '10.0.1.10', cidr: '10.0.1.10/31' })).ok).toBe(true);
    expect(validateRow(row({ address: '10.0.1.10', cidr: '10.0.1.10/32' })).ok).toBe(true);
  });
});

describe('validateRow: rejected, naming the field', () => {
  it.each<[string, Partial<InterfaceRow>, string, RegExp]>([
    ['invalid MAC', { macaddress: 'fa:16:3e:00:00' }, 'macaddress', /invalid MAC/],
    ['mixed separators', { macaddress: 'fa:16-3e:00:00:01' }, 'macaddress', /invalid MAC/],
    ['multicast MAC', { macaddress: '01:00:5e:00:00:01' }, 'macaddress', /multicast/],
    ['NULL MAC', { macaddress: null }, 'macaddress', /MAC/],
    ['octet 500', { address: '10.0.1.500' }, 'address', /dotted quad/],
    ['leading zero octet', { address: '10.0.1.010' }, 'address', /dotted quad/],
    ['outside its network', { address: '10.0.2.10' }, 'address', /outside network 10\.0\.1\.0\/24/],
    ['network address', { address: '10.0.1.0' }, 'address', /network address/],
    ['broadcast address', { address: '10.0.1.255' }, 'address', /broadcast/],
    ['host bits set', { cidr: '10.0.1.1/24' }, 'cidr', /host bits/],
    ['prefix 33', { cidr: '10.0.1.0/33' }, 'cidr', /prefix 0–32/],
    ['no prefix', { cidr: '10.0.1.0' }, 'cidr', /prefix/],
    ['address without cidr', { cidr: null }, 'cidr', /missing network/],
    ['mtu 0', { mtu: 0 }, 'mtu', /below 68/],
    ['mtu 67', { mtu: 67 }, 'mtu', /below 68/],
    ['mtu 65536', { mtu: 65536 }, 'mtu', /above 65535/],
    ['mtu 1500.5', { mtu: 1500.5 }, 'mtu', /integer/],
    ['mtu as text', { mtu: '1500' }, 'mtu', /integer/],
    ['newline in port_id', { port_id: 'abc\nIPADDR=1.2.3.4' }, 'port_id', /invalid id/],
    ['quote in subnet_id', { subnet_id: 'abc"def' }, 'subnet_id', /invalid id/],
    ['$(…) in node name', { attached_node_name: 'worker-1.$(id)' }, 'attached_node_name', /host name/],
    ['newline in MAC', { macaddress: 'fa:16:3e:00:00:01\n' }, 'macaddress', /invalid MAC/],
    ['$(…) in address', { address: '$(reboot)' }, 'address', /dotted quad/],
    ['quote in cidr', { cidr: '10.0.1.0/24"' }, 'cidr', /invalid network/],
    ['newline in cidr', { cidr: '10.0.1.0/24\nmtu: 9000' }, 'cidr', /invalid network/],
  ])('%s', (_label, overrides, field, reason) => {
    const result = validateRow(row(overrides));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problem.field).toBe(field);
    expect(result.problem.reason).toMatch(reason);
  });
});

describe('validateRows', () => {
  it('gives a duplicate MAC to the lowest id and refuses the other', () => {
    const rows = [
      row({ id: 7, macaddress: 'FA-16-3E-00-00-01', address: '10.0.1.7' }),
      row({ id: 3, macaddress: 'fa:16:3e:00:00:01', address: '10.0.1.3' }),
    ];
    const { valid, rejected } = validateRows(rows);
    expect(valid.map((nic) => nic.id)).toEqual([3]);
    expect(rejected).toEqual([
      {
        id: 7,
        mac: 'fa:16:3e:00:00:01',
        problem: expect.objectContaining({ kind: 'duplicate', field: 'macaddress', winnerId: 3 }) as unknown,
      },
    ]);
  });
  it('keeps the lower id as owner of a MAC even when that row is invalid', () => {
    const { valid, rejected } = validateRows([row({ id: 1, mtu: 0 }), row({ id: 2 })]);
    expect(valid).toEqual([]);
    expect(rejected.map((r) => [r.id, r.problem.kind])).toEqual([
      [1, 'invalid'],
      [2, 'duplicate'],
    ]);
  });

  it('gives a duplicate address to the lowest id and refuses the other on address, naming the winner', () => {
    const { valid, rejected } = validateRows([
      row({ id: 7, macaddress: 'fa:16:3e:00:00:07' }),
      row({ id: 3, macaddress: 'fa:16:3e:00:00:03' }),
      row({ id: 9, macaddress: 'fa:16:3e:00:00:09', address: '10.0.1.11' }),
    ]);
    expect(valid.map((nic) => nic.id)).toEqual([3, 9]);
    expect(rejected).toEqual([
      {
        id: 7,
        mac: 'fa:16:3e:00:00:07',
        problem: {
          kind: 'duplicate',
          field: 'address',
          reason: 'duplicate address: row 3 has the same address and the lower id',
          winnerId: 3,
        },
      },
    ]);
  });

  it('link-only rows never collide on address; a row that lost its MAC claims no address', () => {
    const { valid, rejected } = validateRows([
      row({ id: 1, address: null, cidr: null }),
      row({ id: 2, macaddress: 'fa:16:3e:00:00:02', address: null, cidr: null }),
      row({ id: 3, macaddress: 'fa:16:3e:00:00:02', address: '10.0.1.20' }),
      row({ id: 4, macaddress: 'fa:16:3e:00:00:04', address: '10.0.1.20' }),
    ]);
    expect(valid.map((nic) => nic.id)).toEqual([1, 2, 4]);
    expect(rejected.map((r) => [r.id, r.problem.field])).toEqual([[3, 'macaddress']]);
  });
});
