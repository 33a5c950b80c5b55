import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CycleReport } from '../../src/agent/cycle.js';
import type { LiveLink } from '../../src/core/types.js';
import { startHarness, type Harness } from '../support/agent-harness.js';
import { macOf } from '../support/fixtures.js';
import { createTestDatabase, type RawRow, type TestDatabase } from '../support/mariadb.js';

/**
 * SPEC §3 against real MariaDB rows: every bad row gets netplan_success=0 and an error log naming its id
 * and field; no file carries a bad value; the good rows around it are configured.
 */
interface Case {
  label: string;
  row: Partial<RawRow>;
  /** Expected outcome: the field blamed, or 'ok' with the rendered line to find. */
  field?: string;
  ok?: string;
  /** A value that must appear in no file. */
  poison?: string;
}

const n = (i: number) => macOf(40 + i);
const cases: Case[] = [
  { label: 'invalid MAC', row: { macaddress: 'fa:16:3e:zz:00:01' }, field: 'macaddress', poison: 'zz' },
  {
    label: 'MAC with - and upper case',
    row: { macaddress: n(1).toUpperCase().replace(/:/g, '-') },
    ok: `macaddress: "${n(1)}"`,
  },
  {
    label: 'address 10.0.1.500',
    row: { address: '10.0.1.500', cidr: '10.0.1.0/24' },
    field: 'address',
    poison: '10.0.1.500',
  },
  {
    label: 'address outside its cidr',
    row: { address: '10.9.9.9', cidr: '10.0.1.0/24' },
    field: 'address',
    poison: '10.9.9.9',
  },
  {
    label: 'cidr with host bits',
    row: { address: '10.0.1.7', cidr: '10.0.1.1/24' },
    field: 'cidr',
    poison: '10.0.1.7',
  },
  {
    label: 'prefix 33',
    row: { address: '10.0.1.8', cidr: '10.0.1.0/33' },
    field: 'cidr',
    poison: '10.0.1.8',
  },
  {
    label: 'mtu 0',
    row: { mtu: 0, address: '10.3.0.1', cidr: '10.3.0.0/24' },
    field: 'mtu',
    poison: '10.3.0.1',
  },
  {
    label: 'mtu 67',
    row: { mtu: 67, address: '10.3.0.2', cidr: '10.3.0.0/24' },
    field: 'mtu',
    poison: '10.3.0.2',
  },
  {
    label: 'mtu 65536',
    row: { mtu: 65536, address: '10.3.0.3', cidr: '10.3.0.0/24' },
    field: 'mtu',
    poison: '10.3.0.3',
  },
  { label: 'mtu NULL → 1500', row: { mtu: null, address: '10.4.0.1', cidr: '10.4.0.0/24' }, ok: 'mtu: 1500' },
  { label: 'address NULL → link only', row: { address: null, cidr: null, mtu: 1450 }, ok: 'mtu: 1450' },
  { label: 'newline in port_id', row: { port_id: 'p\nIPADDR=6.6.6.6' }, field: 'port_id', poison: '6.6.6.6' },
  { label: 'quote in subnet_id', row: { subnet_id: 's"x' }, field: 'subnet_id', poison: 's"x' },
  { label: '$(…) in macaddress', row: { macaddress: '$(reboot)' }, field: 'macaddress', poison: 'reboot' },
  // address is VARCHAR(15): a short injection that would add a key if it reached a file.
  { label: 'newline in address', row: { address: '10.0.1.9\nmtu:9' }, field: 'address', poison: 'mtu:9' },
  {
    label: 'quote in cidr',
    row: { address: '10.0.1.10', cidr: '10.0.1.0/24"' },
    field: 'cidr',
    poison: '10.0.1.10',
  },
  {
    label: '$(…) in node name',
    row: { attached_node_name: 'worker-1.$(id)' },
    field: 'attached_node_name',
    poison: '$(id)',
  },
];

let db: TestDatabase;
let h: Harness;
let report: CycleReport;
const ids = new Map<string, number>();
const goodIds: number[] = [];

beforeAll(async () => {
  db = await createTestDatabase('badrows');
  const links: LiveLink[] = [];
  // Two good rows first, then every case; each case has a NIC of its own so only its own row decides.
  for (const g of [0, 1]) {
    goodIds.push(
      await db.insertRow({ macaddress: macOf(g), address: `10.8.${g}.10`, cidr: `10.8.${g}.0/24` }),
    );
    links.push({ name: `ens${g + 3}`, mac: macOf(g), mtu: 1500, ipv4: [] });
  }
  for (const [i, c] of cases.entries()) {
    const defaults = { macaddress: n(i), address: `10.7.${i}.10`, cidr: `10.7.${i}.0/24` };
    ids.set(c.label, await db.insertRow({ ...defaults, ...c.row }));
    links.push({ name: `ens${i + 10}`, mac: n(i), mtu: 1500, ipv4: [] });
  }
  h = await startHarness(db, links);
  report = await h.cycle();
}, 60_000);
afterAll(async () => {
  await h.close();
  await db.drop();
});

function allFiles(): string {
  const dir = join(h.hostRoot, 'etc', 'netplan');
  return readdirSync(dir)
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n');
}

describe('bad rows among good ones, one real cycle', () => {
  it('configures the good rows', async () => {
    expect(await Promise.all(goodIds.map((id) => db.readStatus(id)))).toEqual([1, 1]);
    expect(h.net.link(macOf(0)).ipv4).toEqual([{ ip: '10.8.0.10', prefix: 24 }]);
  });

  it.each(cases.filter((c) => c.field !== undefined))(
    '$label: status 0, error log names id and field, no file has it',
    async (c) => {
      const id = ids.get(c.label)!;
      expect(await db.readStatus(id)).toBe(0);
      const line = h.logs.find((l) => l.interface_id === id && l.level === 'error');
      expect(line).toMatchObject({ msg: 'interface row not configured', field: c.field, state: 'invalid' });
      expect(typeof line?.reason).toBe('string');
      expect(allFiles()).not.toContain(c.poison);
    },
  );

  it.each(cases.filter((c) => c.ok !== undefined))('$label: accepted and configured', async (c) => {
    const id = ids.get(c.label)!;
    expect(await db.readStatus(id)).toBe(1);
    const row = report.rows.find((r) => r.id === id);
    expect(row?.state).toBe('configured');
    const file = readFileSync(
      join(h.hostRoot, 'etc', 'netplan', `9${row!.name!.slice(-1)}-${row!.name}.yaml`),
      'utf8',
    );
    expect(file).toContain(c.ok);
  });

  it('writes no file for any rejected row', () => {
    const configured = report.rows.filter((r) => r.success === 1).length;
    expect(readdirSync(join(h.hostRoot, 'etc', 'netplan'))).toHaveLength(configured);
  });
});

describe('duplicates and capacity', () => {
  it('gives a duplicate MAC to the lower id; an 11th NIC fails in id order', async () => {
    const db2 = await createTestDatabase('capacity');
    try {
      const links: LiveLink[] = [];
      const rowIds: number[] = [];
      for (let i = 0; i < 11; i += 1) {
        rowIds.push(
          await db2.insertRow({ macaddress: macOf(i), address: `10.6.${i}.10`, cidr: `10.6.${i}.0/24` }),
        );
        links.push({ name: `ens${i + 3}`, mac: macOf(i), mtu: 1500, ipv4: [] });
      }
      const dup = await db2.insertRow({
        macaddress: macOf(2).toUpperCase(),
        address: '10.6.2.99',
        cidr: '10.6.2.0/24',
      });
      const h2 = await startHarness(db2, links);
      try {
        const result = await h2.cycle();
        const status = await Promise.all([...rowIds, dup].map((id) => db2.readStatus(id)));
        expect(status).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
        expect(result.rows.find((r) => r.id === rowIds[10])).toMatchObject({
          state: 'capacity',
          field: 'macaddress',
        });
        expect(result.rows.find((r) => r.id === dup)).toMatchObject({
          state: 'duplicate',
          field: 'macaddress',
        });
        expect(h2.logs.find((l) => l.interface_id === dup)).toMatchObject({
          level: 'error',
          field: 'macaddress',
        });
        expect(h2.net.link(macOf(2)).ipv4).toEqual([{ ip: '10.6.2.10', prefix: 24 }]);
      } finally {
        await h2.close();
      }
    } finally {
      await db2.drop();
    }
  });
});
