// The real agent (`node cli.js once|plan`) inside a sandbox, against the real netplan 0.106 and
// systemd-networkd 252 on veth/macvlan NICs, with its own MariaDB. Every outcome is read back from the
// kernel (`ip -j addr`), from the files in /etc/netplan and from the database. test/integration/
// cycle.test.ts has the same scenarios against a fake network; these run the real stack.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { expect, it } from 'vitest';
import type { RawRow } from '../support/mariadb.js';
import { agentEnv, runAgent } from '../sandbox/agent.js';
import type { Link } from '../sandbox/links.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import { describeSandbox } from '../sandbox/support.js';
import {
  NSENTER_PREFIX,
  useNode,
  agentCalls,
  calls,
  insertRows,
  linesOf,
  mac,
  netplanFiles,
  networkdRestarts,
  nic,
  row,
  plugRefusingNic,
} from './agent-fixtures.js';

const range = (count: number) => Array.from({ length: count }, (_, n) => n);

async function linkOf(sb: Sandbox, macAddress: string): Promise<Link | undefined> {
  return (await sb.links()).find((link) => link.mac === macAddress);
}

/** The netplan document the agent must write for a NIC (compared parsed, so formatting is free). */
function netplanDoc(n: number, address: string, mtu: number) {
  const name = `multinic${n}`;
  return {
    network: {
      version: 2,
      ethernets: { [name]: { match: { macaddress: mac(n) }, 'set-name': name, addresses: [address], mtu } },
    },
  };
}

describeSandbox('agent end to end: once and plan on real netplan + systemd-networkd', () => {
  const node = useNode();

  it('configures 10 new NICs through nsenter with one apply, then does nothing at all', async () => {
    const { sb, db } = await node.start(range(10).map(nic));
    const mtus = range(10).map((n) => (n === 9 ? 9000 : 1400 + n * 10));
    const ids = await insertRows(
      db,
      range(10).map((n) => row(n, { mtu: mtus[n] })),
    );
    // The production default: inside the sandbox, nsenter -t 1 enters the sandbox's own PID 1.
    const env = agentEnv(db.agentEnv, { COMMAND_PREFIX: NSENTER_PREFIX });

    const first = await runAgent(sb, 'once', env);
    const afterFirst = await calls(sb);
    console.log(
      `10 new NICs: \`once\` took ${first.seconds.toFixed(2)} s from start to exit (exit ${first.code}),` +
        ` ${networkdRestarts(afterFirst)} networkd restart(s),` +
        ` ${agentCalls(afterFirst, 'netplan', /^apply/).length} netplan apply`,
    );
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.logs.filter((line) => line.level === 'error' || line.level === 'warn')).toEqual([]);
    expect(linesOf(first.logs, 'interface configured').map((line) => line.interface_id)).toEqual(ids);

    const links = await sb.links();
    for (const n of range(10)) {
      expect(links.find((link) => link.mac === mac(n))).toEqual({
        name: `multinic${n}`,
        mac: mac(n),
        mtu: mtus[n],
        up: true,
        ipv4: [{ ip: `10.0.${n}.10`, prefix: 24 }],
      });
    }
    const files = netplanFiles(sb);
    expect([...files.keys()]).toEqual(range(10).map((n) => `9${n}-multinic${n}.yaml`));
    for (const n of range(10)) {
      const file = files.get(`9${n}-multinic${n}.yaml`);
      expect(file?.mode).toBe(0o600);
      expect(parseYaml(file?.content ?? '')).toEqual(netplanDoc(n, `10.0.${n}.10/24`, mtus[n] ?? 0));
    }
    expect(await db.statuses(ids)).toEqual(Array(10).fill(1));
    // One batch: one validation, one apply, one networkd restart.
    expect(agentCalls(afterFirst, 'netplan', /^generate --root-dir /)).toHaveLength(1);
    expect(agentCalls(afterFirst, 'netplan', /^apply$/)).toHaveLength(1);
    expect(networkdRestarts(afterFirst)).toBe(1);
    // Every command the agent ran went through the prefix, and worked there.
    const byAgent = afterFirst.filter((call) => call.parent === 'node' || call.parent === 'nsenter');
    expect(byAgent.map((call) => call.parent)).toEqual(['nsenter', 'nsenter']);

    const rawCalls = await sb.calls();
    const second = await runAgent(sb, 'once', env);
    expect(second).toMatchObject({ code: 0, stderr: '' });
    expect(second.logs.filter((line) => line.level !== 'debug')).toEqual([]);
    expect(await sb.calls()).toEqual(rawCalls); // no netplan, no ip, no systemctl: no process at all
    expect(netplanFiles(sb)).toEqual(files); // same content, inode and mtime
    expect(await sb.links()).toEqual(links);
    expect(await db.statuses(ids)).toEqual(Array(10).fill(1));
  }, 60_000);

  it('runs host commands only through COMMAND_PREFIX: one that cannot enter fails and writes nothing', async () => {
    const { sb, db } = await node.start([nic(0)]);
    const [id] = await insertRows(db, [row(0, { netplan_success: 1 })]);
    const env = agentEnv(db.agentEnv, { COMMAND_PREFIX: 'nsenter -t 999999 -m -u -i -n -p --' });

    const run = await runAgent(sb, 'once', env);
    expect(run.code).toBe(1);
    const [failed] = linesOf(run.logs, 'interface configuration failed, rolled back', id);
    expect(failed).toMatchObject({ level: 'error', interface_name: 'multinic0', error_type: 'validation' });
    expect(String(failed?.reason)).toContain('nsenter');
    expect([...netplanFiles(sb).keys()]).toEqual([]);
    expect(await calls(sb)).toEqual([]);
    expect(await linkOf(sb, mac(0))).toMatchObject({ name: 'ens3', ipv4: [] });
    expect(await db.statuses([id ?? -1])).toEqual([0]);
  }, 60_000);

  it('applies an address, an MTU and a cidr change in one apply, deletes the old addresses, leaves the rest', async () => {
    const { sb, db } = await node.start(range(4).map(nic));
    const ids = await insertRows(
      db,
      range(4).map((n) => row(n)),
    );
    const env = agentEnv(db.agentEnv);
    expect(await runAgent(sb, 'once', env)).toMatchObject({ code: 0 });
    const before = netplanFiles(sb);
    const callsBefore = await calls(sb);

    await db.admin.query('UPDATE multi_interface SET address = ? WHERE id = ?', ['10.0.0.11', ids[0]]);
    await db.admin.query('UPDATE multi_interface SET mtu = 9000 WHERE id = ?', [ids[1]]);
    await db.admin.query('UPDATE multi_interface SET cidr = ? WHERE id = ?', ['10.0.0.0/16', ids[2]]);
    const run = await runAgent(sb, 'once', env);
    expect(run).toMatchObject({ code: 0, stderr: '' });

    const configured = linesOf(run.logs, 'interface configured');
    expect(configured.map((line) => [line.interface_id, line.interface_name, line.drifts])).toEqual([
      [ids[0], 'multinic0', ['address']],
      [ids[1], 'multinic1', ['mtu']],
      [ids[2], 'multinic2', ['prefix']],
    ]);
    // networkd adds the new address and keeps the old one; the agent deletes the old one itself.
    expect(await linkOf(sb, mac(0))).toMatchObject({ mtu: 1500, ipv4: [{ ip: '10.0.0.11', prefix: 24 }] });
    expect(await linkOf(sb, mac(1))).toMatchObject({ mtu: 9000, ipv4: [{ ip: '10.0.1.10', prefix: 24 }] });
    expect(await linkOf(sb, mac(2))).toMatchObject({ mtu: 1500, ipv4: [{ ip: '10.0.2.10', prefix: 16 }] });
    expect(await linkOf(sb, mac(3))).toMatchObject({ mtu: 1500, ipv4: [{ ip: '10.0.3.10', prefix: 24 }] });
    const newCalls = (await calls(sb)).slice(callsBefore.length);
    expect(agentCalls(newCalls, 'ip').map((call) => call.args)).toEqual([
      'addr del 10.0.0.10/24 dev multinic0',
      'addr del 10.0.2.10/24 dev multinic2',
    ]);
    expect(agentCalls(newCalls, 'netplan', /^apply$/)).toHaveLength(1);
    expect(networkdRestarts(newCalls)).toBe(1);

    const after = netplanFiles(sb);
    expect(parseYaml(after.get('90-multinic0.yaml')?.content ?? '')).toEqual(
      netplanDoc(0, '10.0.0.11/24', 1500),
    );
    expect(parseYaml(after.get('91-multinic1.yaml')?.content ?? '')).toEqual(
      netplanDoc(1, '10.0.1.10/24', 9000),
    );
    expect(parseYaml(after.get('92-multinic2.yaml')?.content ?? '')).toEqual(
      netplanDoc(2, '10.0.2.10/16', 1500),
    );
    for (const name of ['90-multinic0.yaml', '91-multinic1.yaml', '92-multinic2.yaml']) {
      expect(after.get(name)?.ino).not.toBe(before.get(name)?.ino);
    }
    expect(after.get('93-multinic3.yaml')).toEqual(before.get('93-multinic3.yaml')); // not rewritten
    // The replaced files were backed up, as they were.
    const backups = join(sb.hostRoot, 'var/lib/multinic/backups');
    const [stamp, ...more] = existsSync(backups) ? readdirSync(backups).sort() : [];
    expect(more).toEqual([]);
    for (const name of ['90-multinic0.yaml', '91-multinic1.yaml', '92-multinic2.yaml']) {
      const saved = readFileSync(join(backups, stamp ?? '-', 'etc/netplan', name), 'utf8');
      expect(saved).toBe(before.get(name)?.content);
    }
    expect(await db.statuses(ids)).toEqual([1, 1, 1, 1]);
  }, 60_000);

  it('restores a hand-deleted address and a hand-changed MTU on the next run, naming the drift', async () => {
    const { sb, db } = await node.start(range(3).map(nic));
    const ids = await insertRows(
      db,
      range(3).map((n) => row(n)),
    );
    const env = agentEnv(db.agentEnv);
    expect(await runAgent(sb, 'once', env)).toMatchObject({ code: 0 });
    const files = netplanFiles(sb);

    await sb.execOk(['ip', 'addr', 'del', '10.0.1.10/24', 'dev', 'multinic1']);
    await sb.execOk(['ip', 'link', 'set', 'multinic2', 'mtu', '1400']);
    const planned = await runAgent(sb, 'plan', env);
    expect(planned.code).toBe(2);
    expect(planned.stdout).toMatch(/^reapply multinic1 .*\(live_address\)$/m);
    expect(planned.stdout).toMatch(/^reapply multinic2 .*\(live_mtu\)$/m);
    expect(planned.stdout).not.toMatch(/multinic0/);

    const run = await runAgent(sb, 'once', env);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(linesOf(run.logs, 'interface configured')).toEqual([
      expect.objectContaining({ interface_id: ids[1], action: 'reapply', drifts: ['live_address'] }),
      expect.objectContaining({ interface_id: ids[2], action: 'reapply', drifts: ['live_mtu'] }),
    ]);
    expect(await linkOf(sb, mac(1))).toMatchObject({ mtu: 1500, ipv4: [{ ip: '10.0.1.10', prefix: 24 }] });
    expect(await linkOf(sb, mac(2))).toMatchObject({ mtu: 1500, ipv4: [{ ip: '10.0.2.10', prefix: 24 }] });
    expect(await linkOf(sb, mac(0))).toMatchObject({ mtu: 1500, ipv4: [{ ip: '10.0.0.10', prefix: 24 }] });
    expect(netplanFiles(sb)).toEqual(files); // a live drift is re-applied, not rewritten
    expect(await db.statuses(ids)).toEqual([1, 1, 1]);
    expect(await runAgent(sb, 'plan', env)).toMatchObject({ code: 0 });
  }, 60_000);

  it('rolls back an MTU the kernel refuses: old file and old state back, row 0, the other rows hold', async () => {
    const { sb, db } = await node.start([nic(0), nic(1)]);
    await plugRefusingNic(sb);
    const ids = await insertRows(
      db,
      range(3).map((n) => row(n)),
    );
    // Verification of the refused MTU cannot pass: keep its wait short.
    const env = agentEnv(db.agentEnv, { VERIFY_TIMEOUT: '5s' });
    expect(await runAgent(sb, 'once', env)).toMatchObject({ code: 0 });
    const refused = await sb.exec(['ip', 'link', 'set', 'multinic2', 'mtu', '9000']);
    expect(refused.code).not.toBe(0); // the precondition: the kernel really says no
    const before = netplanFiles(sb);
    const callsBefore = await calls(sb);

    await db.admin.query('UPDATE multi_interface SET mtu = 9000, address = ? WHERE id = ?', [
      '10.0.2.20',
      ids[2],
    ]);
    await db.admin.query('UPDATE multi_interface SET address = ? WHERE id = ?', ['10.0.0.11', ids[0]]);
    const run = await runAgent(sb, 'once', env);
    expect(run.code).toBe(1);
    const [failed, ...others] = linesOf(run.logs, 'interface configuration failed, rolled back');
    expect(others).toEqual([]);
    expect(failed).toMatchObject({
      level: 'error',
      interface_id: ids[2],
      interface_name: 'multinic2',
      error_type: 'verify',
    });
    expect(String(failed?.reason)).toMatch(/multinic2 has MTU 1500, expected 9000/);
    // The agent saw the previous state come back itself (a rollback problem would be appended here).
    expect(String(failed?.reason)).not.toMatch(/rollback failed|did not come back/);
    expect(linesOf(run.logs, 'interface configured').map((line) => line.interface_id)).toEqual([ids[0]]);

    const after = netplanFiles(sb);
    expect(after.get('92-multinic2.yaml')?.content).toBe(before.get('92-multinic2.yaml')?.content);
    expect(await linkOf(sb, mac(2))).toMatchObject({
      name: 'multinic2',
      mtu: 1500,
      ipv4: [{ ip: '10.0.2.10', prefix: 24 }],
    });
    expect(await linkOf(sb, mac(0))).toMatchObject({ ipv4: [{ ip: '10.0.0.11', prefix: 24 }] });
    expect(await linkOf(sb, mac(1))).toMatchObject({ mtu: 1500, ipv4: [{ ip: '10.0.1.10', prefix: 24 }] });
    expect(after.get('91-multinic1.yaml')).toEqual(before.get('91-multinic1.yaml'));
    expect(await db.statuses(ids)).toEqual([1, 1, 0]);
    // The batch, then the rollback: two applies.
    const newCalls = (await calls(sb)).slice(callsBefore.length);
    expect(agentCalls(newCalls, 'netplan', /^apply$/)).toHaveLength(2);
    expect(networkdRestarts(newCalls)).toBe(2);
  }, 60_000);

  it('never touches the NIC holding the default route, even when a row names its MAC', async () => {
    const { sb, db } = await node.start([nic(0), nic(1)]);
    await sb.execOk(['ip', 'addr', 'add', '192.168.0.5/24', 'dev', 'ens3']);
    await sb.execOk(['ip', 'link', 'set', 'ens3', 'up']);
    await sb.execOk(['ip', 'route', 'add', 'default', 'via', '192.168.0.1', 'dev', 'ens3']);
    const ids = await insertRows(db, [row(0, { netplan_success: 1 }), row(1)]);

    const run = await runAgent(sb, 'once', agentEnv(db.agentEnv));
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const [refused, ...again] = linesOf(run.logs, 'interface row not configured', ids[0]);
    expect(again).toEqual([]);
    expect(refused).toMatchObject({ level: 'error', field: 'macaddress', state: 'protected' });
    expect(String(refused?.reason)).toMatch(/ens3 holds the default route/);
    expect(await linkOf(sb, mac(0))).toEqual({
      name: 'ens3',
      mac: mac(0),
      mtu: 1500,
      up: true,
      ipv4: [{ ip: '192.168.0.5', prefix: 24 }],
    });
    const routes = JSON.parse((await sb.execOk(['ip', '-j', 'route', 'show', 'default'])).stdout) as unknown;
    expect(routes).toEqual([
      expect.objectContaining({ dst: 'default', gateway: '192.168.0.1', dev: 'ens3' }),
    ]);
    // The other row takes the first name.
    expect(await linkOf(sb, mac(1))).toMatchObject({
      name: 'multinic0',
      ipv4: [{ ip: '10.0.1.10', prefix: 24 }],
    });
    const files = netplanFiles(sb);
    expect([...files.keys()]).toEqual(['90-multinic0.yaml']);
    expect(files.get('90-multinic0.yaml')?.content).not.toContain(mac(0));
    expect(await db.statuses(ids)).toEqual([0, 1]);
  }, 60_000);

  it('configures the good rows among every kind of bad row, and writes no bad value anywhere', async () => {
    const badMac = (k: number) => `fa:16:3e:00:0b:${k.toString(16).padStart(2, '0')}`;
    // field: the row field each bad row must be reported on; a bad row keeps a valid MAC of a present
    // NIC (badN) unless the MAC is what is bad, so "never touched" is checked on a real link too.
    const bad: { field: string; row: Partial<RawRow> }[] = [
      { field: 'macaddress', row: { macaddress: 'fa:16:3e:zz:0b:01' } },
      { field: 'address', row: { address: '10.1.1.500', cidr: '10.1.1.0/24' } },
      { field: 'address', row: { address: '10.1.9.9', cidr: '10.1.2.0/24' } },
      { field: 'cidr', row: { address: '10.1.3.10', cidr: '10.1.3.1/24' } },
      { field: 'cidr', row: { address: '10.1.4.10', cidr: '10.1.4.0/33' } },
      { field: 'mtu', row: { mtu: 0 } },
      { field: 'mtu', row: { mtu: 67 } },
      { field: 'mtu', row: { mtu: 65536 } },
      { field: 'port_id', row: { port_id: 'p\nmtu: 9000' } },
      { field: 'port_id', row: { port_id: 'p"x' } },
      { field: 'port_id', row: { port_id: '$(id)' } },
      { field: 'macaddress', row: { macaddress: 'fa:16:3e:0b\n:0b:1' } },
      { field: 'macaddress', row: { macaddress: 'fa:16:3e:00:0b:"1' } },
      { field: 'macaddress', row: { macaddress: '$(id):3e:00:0b:01' } },
      { field: 'address', row: { address: '10.1.5.10\n- x', cidr: '10.1.5.0/24' } },
      { field: 'address', row: { address: '10.1.6.10"', cidr: '10.1.6.0/24' } },
      { field: 'address', row: { address: '$(id)', cidr: '10.1.7.0/24' } },
      { field: 'cidr', row: { address: '10.1.8.10', cidr: '10.1.8.0/24\nx: 1' } },
      { field: 'cidr', row: { address: '10.1.9.10', cidr: '10.1.9.0/24"' } },
      { field: 'cidr', row: { address: '10.1.10.10', cidr: '$(id)/24' } },
    ];
    const badRows = bad.map(({ row: values }, k) => ({
      macaddress: badMac(k),
      address: `10.1.${100 + k}.10`,
      cidr: `10.1.${100 + k}.0/24`,
      mtu: 1500,
      netplan_success: 1, // so that the 0 the agent must write is a change it really made
      ...values,
    }));
    const badNics = badRows.flatMap((r, k) =>
      r.macaddress === badMac(k) ? [{ name: `bad${k}`, mac: badMac(k) }] : [],
    );
    expect(badNics.length).toBeGreaterThan(10);
    const { sb, db } = await node.start([...range(11).map(nic), ...badNics]);

    // Ids interleaved: good 0–4, bad 0–9, good 5–9, bad 10–19, a duplicate MAC of good 3, an 11th NIC.
    const good1 = await insertRows(
      db,
      range(5).map((n) => row(n)),
    );
    const bad1 = await insertRows(db, badRows.slice(0, 10));
    const good2 = await insertRows(
      db,
      range(5).map((n) => row(n + 5)),
    );
    const bad2 = await insertRows(db, badRows.slice(10));
    const [duplicate, eleventh] = await insertRows(db, [
      row(3, { address: '10.1.40.10', cidr: '10.1.40.0/24', netplan_success: 1 }),
      row(10, { address: '10.1.41.10', cidr: '10.1.41.0/24', netplan_success: 1 }),
    ]);
    const goodIds = [...good1, ...good2];
    const badIds = [...bad1, ...bad2];

    const run = await runAgent(sb, 'once', agentEnv(db.agentEnv));
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(await db.statuses(goodIds)).toEqual(Array(10).fill(1));
    expect(await db.statuses([...badIds, duplicate ?? -1, eleventh ?? -1])).toEqual(Array(22).fill(0));

    const expected: { id: number | undefined; field: string; reason?: RegExp }[] = [
      ...bad.map(({ field }, k) => ({ id: badIds[k], field })),
      { id: duplicate, field: 'macaddress', reason: /^duplicate MAC/ },
      { id: eleventh, field: 'macaddress', reason: /^capacity/ },
    ];
    for (const { id, field, reason } of expected) {
      const lines = linesOf(run.logs, 'interface row not configured', id);
      expect(lines, `row ${id}`).toEqual([expect.objectContaining({ level: 'error', field })]);
      expect(String(lines[0]?.reason)).toMatch(reason ?? /./);
    }

    for (const n of range(10)) {
      expect(await linkOf(sb, mac(n))).toMatchObject({
        name: `multinic${n}`,
        ipv4: [{ ip: `10.0.${n}.10`, prefix: 24 }],
      });
    }
    const untouched = [{ name: 'ens13', mac: mac(10) }, ...badNics];
    for (const link of untouched) {
      expect(await linkOf(sb, link.mac)).toMatchObject({ name: link.name, mtu: 1500, ipv4: [] });
    }
    const files = netplanFiles(sb);
    expect([...files.keys()]).toEqual(range(10).map((n) => `9${n}-multinic${n}.yaml`));
    const badValues = [
      ...badRows.flatMap((r) => [r.macaddress, r.address, r.cidr, r.port_id]),
      ...['10.1.', ':0b:', '$(', '"x', ':"1', '- x', 'x: 1', '/33', 'mtu: 0\n', 'mtu: 67\n', 'mtu: 65536'],
      mac(10),
    ].filter((value): value is string => typeof value === 'string' && value !== '');
    for (const [name, file] of files) {
      const n = Number(name[1]);
      expect(parseYaml(file.content)).toEqual(netplanDoc(n, `10.0.${n}.10/24`, 1500));
      for (const value of badValues) expect(file.content, `${name} contains ${value}`).not.toContain(value);
    }
  }, 60_000);
});
