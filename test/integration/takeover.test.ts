// Issue 14 against a real MariaDB and a real host root (the fake network stands in for the kernel): the
// original agent's files taken over in place, and everything else at the agent's paths left alone and
// reported, whatever it is (bad shapes, a symlink, a directory, a 2 MB file).
import { lstatSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { showPlan } from '../../src/commands.js';
import { OWNERSHIP_HEADER } from '../../src/core/ownership.js';
import { insertPortRows, type Harness } from '../support/agent-harness.js';
import { useScratchDatabase } from '../support/scratch-database.js';
import { macOf } from '../support/fixtures.js';
import { goNetplan } from '../support/original-files.js';
import { parseProm, valueOf } from '../support/prom.js';

const scratch = useScratchDatabase('takeover');

/** NIC n as the original left it: renamed `name`, addressed as its row asks. */
function leftBy(name: string, n: number) {
  return { name, mac: macOf(n), mtu: 1500, ipv4: [{ ip: `10.0.${n}.10`, prefix: 24 }] };
}

function netplanPathIn(harness: Harness, file: string): string {
  return join(harness.hostRoot, 'etc', 'netplan', file);
}

/** A node the original configured: row 1's MAC on multinic8 (its naming race), row 2's on multinic1. */
async function originalNode(env: Record<string, string> = {}) {
  const ids = await insertPortRows(scratch.db, 2);
  await scratch.db.admin.query('UPDATE multi_interface SET netplan_success = 1');
  const harness = await scratch.start([leftBy('multinic8', 0), leftBy('multinic1', 1)], env);
  writeFileSync(
    netplanPathIn(harness, '98-multinic8.yaml'),
    goNetplan('multinic8', macOf(0), '10.0.0.10/24'),
    { mode: 0o644 },
  );
  writeFileSync(
    netplanPathIn(harness, '91-multinic1.yaml'),
    goNetplan('multinic1', macOf(1), '10.0.1.10/24'),
    { mode: 0o644 },
  );
  return { harness, ids };
}

async function metric(harness: Harness, name: string): Promise<number | undefined> {
  return valueOf(parseProm(await harness.agent.metrics.registry.metrics()).samples, name);
}

describe("taking over the original agent's files", () => {
  it('plan shows adopt; the cycle rewrites each file in our format under its own name, applies nothing, then is steady', async () => {
    const { harness, ids } = await originalNode();
    const lines: string[] = [];
    expect(await showPlan(harness.agent, (line) => lines.push(line))).toBe(2);
    expect(lines.filter((line) => line.startsWith('adopt'))).toEqual([
      `adopt   multinic8  row ${ids[0]}  ${macOf(0)}  10.0.0.10/24  mtu 1500  ()`,
      `adopt   multinic1  row ${ids[1]}  ${macOf(1)}  10.0.1.10/24  mtu 1500  ()`,
    ]);

    const spawned = harness.net.spawned;
    expect(await harness.tick()).toBe(true);
    // netplan generate validated the files; nothing was applied.
    expect(harness.net.count('netplan', 'apply')).toBe(0);
    expect(harness.net.spawned - spawned).toBe(1);
    for (const [file, id] of [
      ['98-multinic8.yaml', ids[0]],
      ['91-multinic1.yaml', ids[1]],
    ] as const) {
      const content = readFileSync(netplanPathIn(harness, file), 'utf8');
      expect(content.startsWith(`${OWNERSHIP_HEADER}\n# multinic-agent format=2 row=${id}\n`)).toBe(true);
      expect(statSync(netplanPathIn(harness, file)).mode & 0o777).toBe(0o600);
    }
    expect(harness.net.link(macOf(0))).toMatchObject({
      name: 'multinic8',
      ipv4: [{ ip: '10.0.0.10', prefix: 24 }],
    });
    expect(
      harness.logs.filter((line) => line.msg === 'interface taken over').map((l) => l.interface_name),
    ).toEqual(['multinic8', 'multinic1']);
    expect(await Promise.all(ids.map((id) => scratch.db.readStatus(id)))).toEqual([1, 1]);
    const steady = harness.net.spawned;
    const writes = harness.agent.fs.writes;
    expect(await harness.tick()).toBe(true);
    expect([harness.net.spawned - steady, harness.agent.fs.writes - writes]).toEqual([0, 0]);
  });

  it('a file that differs from its row is taken over and what differs applied, as one update', async () => {
    const { harness, ids } = await originalNode();
    await scratch.db.admin.query('UPDATE multi_interface SET mtu = 9000 WHERE id = ?', [ids[1]]);
    const report = await harness.cycle();
    expect(report.plan.changes.map((c) => [c.kind, c.drifts])).toEqual([
      ['adopt', []],
      ['adopt', ['mtu', 'live_mtu']],
    ]);
    expect(harness.net.count('netplan', 'apply')).toBe(1);
    expect(harness.net.link(macOf(1))).toMatchObject({ name: 'multinic1', mtu: 9000 });
  });

  it('with ADOPT_UNMANAGED=false every such file is foreign, and its row refused with the path', async () => {
    const { harness, ids } = await originalNode({ ADOPT_UNMANAGED: 'false' });
    const report = await harness.cycle();
    expect(report.plan.changes).toEqual([]);
    expect(report.plan.foreign.map((f) => f.reason)).toEqual([
      "in the original agent's shape, but adoption is off (ADOPT_UNMANAGED=false)",
      "in the original agent's shape, but adoption is off (ADOPT_UNMANAGED=false)",
    ]);
    expect(report.rows.map((row) => [row.id, row.state, row.reason])).toEqual([
      [ids[0], 'foreign', 'held by a file multinic-agent does not own: /etc/netplan/98-multinic8.yaml'],
      [ids[1], 'foreign', 'held by a file multinic-agent does not own: /etc/netplan/91-multinic1.yaml'],
    ]);
    expect(await Promise.all(ids.map((id) => scratch.db.readStatus(id)))).toEqual([0, 0]);
  });
});

const good = goNetplan('multinic1', macOf(1), '10.0.1.10/24');
const BAD: [label: string, plant: (path: string) => void, reason: RegExp][] = [
  ['a comment', (p) => writeFileSync(p, `# hand edit\n${good}`), /comment/],
  [
    'a second ethernet',
    (p) =>
      writeFileSync(
        p,
        good.replace(
          '    version: 2\n',
          `        multinic9:\n            set-name: multinic9\n    version: 2\n`,
        ),
      ),
    /ethernets must hold multinic1 only/,
  ],
  [
    'a routes key',
    (p) =>
      writeFileSync(
        p,
        good.replace('            mtu: 1500\n', '            mtu: 1500\n            routes: []\n'),
      ),
    /routes/,
  ],
  ['dhcp4: true', (p) => writeFileSync(p, good.replace('dhcp4: false', 'dhcp4: true')), /dhcp4 is not false/],
  ['invalid YAML', (p) => writeFileSync(p, `${good}  - [\n`), /invalid YAML/],
  ['a symlink', (p) => symlinkSync('98-multinic8.yaml', p), /symlink/],
  ['a directory', (p) => mkdirSync(p), /not a regular file/],
  [
    'a 2 MB file',
    (p) => writeFileSync(p, `${good}${'#'.repeat(2 * 1024 * 1024)}\n`),
    /larger than 65536 bytes/,
  ],
];

describe('what is not taken over is left alone and reported, and nothing else is disturbed', () => {
  it.each(BAD)('%s', async (_label, plant, reason) => {
    const { harness, ids } = await originalNode();
    const path = netplanPathIn(harness, '91-multinic1.yaml');
    rmSync(path);
    plant(path);
    const before = lstatSync(path);
    const content = before.isFile() ? readFileSync(path) : null;

    for (let i = 0; i < 2; i += 1) expect(await harness.tick()).toBe(true);
    const after = lstatSync(path);
    expect([after.ino, after.mode, after.mtimeMs]).toEqual([before.ino, before.mode, before.mtimeMs]);
    if (content !== null) expect(readFileSync(path).equals(content)).toBe(true);
    const health = harness.agent.telemetry.health();
    expect(health.foreign_files).toEqual([
      { path: '/etc/netplan/91-multinic1.yaml', reason: expect.stringMatching(reason) as unknown },
    ]);
    expect(await metric(harness, 'multinic_foreign_files')).toBe(1);
    expect(harness.logs.filter((line) => line.msg === 'foreign file left alone')).toHaveLength(1);
    expect(health.interfaces.find((entry) => entry.id === ids[1])).toMatchObject({
      state: 'foreign',
      last_error: 'held by a file multinic-agent does not own: /etc/netplan/91-multinic1.yaml',
    });
    expect(harness.net.link(macOf(1))).toMatchObject({
      name: 'multinic1',
      ipv4: [{ ip: '10.0.1.10', prefix: 24 }],
    });
    // The other NIC is taken over as usual.
    expect(
      readFileSync(netplanPathIn(harness, '98-multinic8.yaml'), 'utf8').startsWith(OWNERSHIP_HEADER),
    ).toBe(true);
    expect(await scratch.db.readStatus(ids[0] ?? -1)).toBe(1);
    expect(harness.net.count('netplan', 'apply')).toBe(0);
  });

  it('a file named like ours at a path the agent does not write is reported, never read as ours', async () => {
    const { harness } = await originalNode();
    writeFileSync(netplanPathIn(harness, '95-multinic9.yaml'), goNetplan('multinic9', macOf(7), null));
    writeFileSync(netplanPathIn(harness, 'multinic-extra.yaml'), 'network: {version: 2}\n');
    const report = await harness.cycle();
    expect(report.plan.foreign).toEqual([
      { path: '/etc/netplan/95-multinic9.yaml', reason: 'not a path multinic-agent writes' },
      { path: '/etc/netplan/multinic-extra.yaml', reason: 'not a path multinic-agent writes' },
    ]);
  });
});
