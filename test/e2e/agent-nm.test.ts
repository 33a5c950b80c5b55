// The real agent (`node cli.js once|run`, OS_TYPE=keyfile) inside a sandbox running a real
// NetworkManager 1.42 (keyfile plugin, private D-Bus), on veth/macvlan NICs, with its own MariaDB. Every
// outcome is read back from the kernel (`ip -j addr`), from the keyfiles, from NetworkManager
// (`nmcli -t connection show`) and from the database.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it, vi } from 'vitest';
import { parseKeyfile } from '../../src/core/keyfile.js';
import type { NicConfig } from '../../src/core/types.js';
import type { RawRow } from '../support/mariadb.js';
import { agentEnv, runAgent, startDaemon, type LogLine } from '../sandbox/agent.js';
import type { Link } from '../sandbox/links.js';
import { httpGet } from '../sandbox/http.js';
import { scriptDir, type Sandbox } from '../sandbox/sandbox.js';
import { describeNetworkManagerSandbox } from '../sandbox/support.js';
import {
  NSENTER_PREFIX,
  calls,
  eventually,
  insertRows,
  linesOf,
  mac,
  nic,
  row,
  type Call,
  type FileState,
  useNode,
} from './agent-fixtures.js';

const range = (count: number) => Array.from({ length: count }, (_, n) => n);
const KEYFILES = 'etc/NetworkManager/system-connections';
const SEEN = 'orphaned interface seen; removed next cycle if still orphaned';

/** Every sandbox here runs NetworkManager. */
const NM = { networkManager: true } as const;

function env(db: { agentEnv: Record<string, string> }, overrides: Record<string, string> = {}) {
  return agentEnv(db.agentEnv, { OS_TYPE: 'keyfile', ...overrides });
}

/** Every file in the sandbox's /etc/NetworkManager/system-connections, by name. */
function keyfiles(sb: Sandbox): Map<string, FileState> {
  const dir = join(sb.hostRoot, KEYFILES);
  const files = new Map<string, FileState>();
  for (const name of readdirSync(dir).sort()) {
    const info = statSync(join(dir, name));
    const content = readFileSync(join(dir, name), 'utf8');
    files.set(name, { content, ino: info.ino, mtimeMs: info.mtimeMs, mode: info.mode & 0o777 });
  }
  return files;
}

function config(n: number, address: string | null, mtu = 1500): NicConfig {
  const [ip = '', prefix = ''] = address?.split('/') ?? [];
  return {
    name: `multinic${n}`,
    mac: mac(n),
    address: address === null ? null : { ip, prefix: Number(prefix) },
    mtu,
  };
}

interface Connection {
  name: string;
  device: string;
  state: string;
  filename: string;
}

/**
 * NetworkManager's connections (`nmcli -t connection show`) that live in files: not the in-memory ones
 * it makes itself for links configured outside it (loopback, a test's own address on a peer).
 */
async function connections(sb: Sandbox): Promise<Connection[]> {
  const { stdout } = await sb.execOk([
    'nmcli',
    '-t',
    '-f',
    'NAME,DEVICE,STATE,FILENAME',
    'connection',
    'show',
  ]);
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [name = '', device = '', state = '', filename = ''] = line.split(':');
      return { name, device, state, filename };
    })
    .filter((connection) => !connection.filename.startsWith('/run/NetworkManager/'))
    .sort((a, b) => a.name.localeCompare(b.name));
}

function active(n: number): Connection {
  const name = `multinic${n}`;
  return { name, device: name, state: 'activated', filename: `/${KEYFILES}/${name}.nmconnection` };
}

async function linkOf(sb: Sandbox, macAddress: string): Promise<Link | undefined> {
  return (await sb.links()).find((link) => link.mac === macAddress);
}

/** Calls the agent made itself through a tracer (`nmcli …`, `ip …`), as `command args`. */
function byAgent(all: readonly Call[], command: 'nmcli' | 'ip', args?: RegExp): string[] {
  return all
    .filter((call) => call.command === command && (call.parent === 'node' || call.parent === 'nsenter'))
    .map((call) => call.args)
    .filter((text) => args === undefined || args.test(text));
}

function networkManagerRestarts(all: readonly Call[]): number {
  return all.filter((call) => call.command === 'systemctl' && /^restart NetworkManager/.test(call.args))
    .length;
}

function problems(logs: readonly LogLine[]): LogLine[] {
  return logs.filter((line) => line.level === 'error' || line.level === 'warn');
}

describeNetworkManagerSandbox('agent end to end on a real NetworkManager (keyfile backend)', () => {
  const node = useNode();

  it('configures 10 new NICs through nsenter: renamed by MAC, one reload, then does nothing at all', async () => {
    const { sb, db } = await node.start(range(10).map(nic), NM);
    const mtus = range(10).map((n) => (n === 9 ? 9000 : 1400 + n * 10));
    const ids = await insertRows(
      db,
      range(10).map((n) => row(n, { mtu: mtus[n] })),
    );
    const agent = env(db, { COMMAND_PREFIX: NSENTER_PREFIX });

    const first = await runAgent(sb, 'once', agent);
    const afterFirst = await calls(sb);
    console.log(
      `NetworkManager, 10 new NICs: \`once\` took ${first.seconds.toFixed(2)} s (exit ${first.code}),` +
        ` ${byAgent(afterFirst, 'nmcli').length} nmcli calls`,
    );
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(problems(first.logs)).toEqual([]);
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
    const files = keyfiles(sb);
    expect([...files.keys()]).toEqual(range(10).map((n) => `multinic${n}.nmconnection`));
    for (const n of range(10)) {
      const file = files.get(`multinic${n}.nmconnection`);
      expect(file?.mode).toBe(0o600);
      expect(parseKeyfile(file?.content ?? '')).toEqual(config(n, `10.0.${n}.10/24`, mtus[n]));
    }
    expect(await connections(sb)).toEqual(range(10).map(active));
    expect(await db.statuses(ids)).toEqual(Array(10).fill(1));

    // Each file checked by nmcli --offline; renamed by MAC (down, rename, up); one reload; one up each.
    const nmcli = byAgent(afterFirst, 'nmcli');
    expect(nmcli.filter((args) => args === '--offline connection modify')).toHaveLength(10);
    expect(nmcli.filter((args) => args === 'connection reload')).toHaveLength(1);
    expect(nmcli.filter((args) => /^--wait \d+ connection up id multinic\d$/.test(args))).toHaveLength(10);
    expect(nmcli).toHaveLength(21);
    expect(byAgent(afterFirst, 'ip')).toEqual(
      range(10).flatMap((n) => [
        `link set dev ens${n + 3} down`,
        `link set dev ens${n + 3} name multinic${n}`,
        `link set dev multinic${n} up`,
      ]),
    );
    expect(afterFirst.every((call) => call.parent !== 'node')).toBe(true); // all through nsenter
    expect(networkManagerRestarts(afterFirst)).toBe(0);

    const rawCalls = await sb.calls();
    const second = await runAgent(sb, 'once', agent);
    expect(second).toMatchObject({ code: 0, stderr: '' });
    expect(second.logs.filter((line) => line.level !== 'debug')).toEqual([]);
    expect(await sb.calls()).toEqual(rawCalls); // no nmcli, no ip: no process at all
    expect(keyfiles(sb)).toEqual(files); // same content, inode and mtime
    expect(await sb.links()).toEqual(links);
  }, 90_000);

  it('applies an address, an MTU and a cidr change: only those connections come up again', async () => {
    const { sb, db } = await node.start(range(4).map(nic), NM);
    const ids = await insertRows(
      db,
      range(4).map((n) => row(n)),
    );
    expect(await runAgent(sb, 'once', env(db))).toMatchObject({ code: 0 });
    const before = keyfiles(sb);
    const callsBefore = await calls(sb);

    await db.admin.query('UPDATE multi_interface SET address = ? WHERE id = ?', ['10.0.0.11', ids[0]]);
    await db.admin.query('UPDATE multi_interface SET mtu = 9000 WHERE id = ?', [ids[1]]);
    await db.admin.query('UPDATE multi_interface SET cidr = ? WHERE id = ?', ['10.0.0.0/16', ids[2]]);
    const run = await runAgent(sb, 'once', env(db));
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(problems(run.logs)).toEqual([]);
    expect(linesOf(run.logs, 'interface configured').map((line) => [line.interface_id, line.drifts])).toEqual(
      [
        [ids[0], ['address']],
        [ids[1], ['mtu']],
        [ids[2], ['prefix']],
      ],
    );
    expect(await linkOf(sb, mac(0))).toMatchObject({ mtu: 1500, ipv4: [{ ip: '10.0.0.11', prefix: 24 }] });
    expect(await linkOf(sb, mac(1))).toMatchObject({ mtu: 9000, ipv4: [{ ip: '10.0.1.10', prefix: 24 }] });
    expect(await linkOf(sb, mac(2))).toMatchObject({ mtu: 1500, ipv4: [{ ip: '10.0.2.10', prefix: 16 }] });
    expect(await linkOf(sb, mac(3))).toMatchObject({ mtu: 1500, ipv4: [{ ip: '10.0.3.10', prefix: 24 }] });

    const after = keyfiles(sb);
    expect(parseKeyfile(after.get('multinic0.nmconnection')?.content ?? '')).toEqual(
      config(0, '10.0.0.11/24'),
    );
    expect(parseKeyfile(after.get('multinic1.nmconnection')?.content ?? '')).toEqual(
      config(1, '10.0.1.10/24', 9000),
    );
    expect(parseKeyfile(after.get('multinic2.nmconnection')?.content ?? '')).toEqual(
      config(2, '10.0.2.10/16'),
    );
    expect(after.get('multinic3.nmconnection')).toEqual(before.get('multinic3.nmconnection'));
    expect(await connections(sb)).toEqual(range(4).map(active));

    const newCalls = (await calls(sb)).slice(callsBefore.length);
    const ups = byAgent(newCalls, 'nmcli', /connection up/).map((args) => args.split(' ').pop());
    expect(ups.sort()).toEqual(['multinic0', 'multinic1', 'multinic2']);
    expect(byAgent(newCalls, 'nmcli', /^connection reload$/)).toHaveLength(1);
    expect(byAgent(newCalls, 'ip', /^link /)).toEqual([]); // names already right: no rename
    expect(await db.statuses(ids)).toEqual([1, 1, 1, 1]);
  }, 90_000);

  it('repairs live drift (a renamed link, a deleted address, a changed MTU) without rewriting a file', async () => {
    const { sb, db } = await node.start(range(3).map(nic), NM);
    const ids = await insertRows(
      db,
      range(3).map((n) => row(n)),
    );
    expect(await runAgent(sb, 'once', env(db))).toMatchObject({ code: 0 });
    const files = keyfiles(sb);

    await sb.execOk(['ip', 'link', 'set', 'multinic0', 'down']);
    await sb.execOk(['ip', 'link', 'set', 'multinic0', 'name', 'stray0']);
    await sb.execOk(['ip', 'link', 'set', 'stray0', 'up']);
    await sb.execOk(['ip', 'addr', 'del', '10.0.1.10/24', 'dev', 'multinic1']);
    await sb.execOk(['ip', 'link', 'set', 'multinic2', 'mtu', '1400']);
    const callsBefore = await calls(sb);

    const run = await runAgent(sb, 'once', env(db));
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const configured = linesOf(run.logs, 'interface configured');
    expect(configured.map((line) => [line.interface_id, line.action])).toEqual([
      [ids[0], 'reapply'],
      [ids[1], 'reapply'],
      [ids[2], 'reapply'],
    ]);
    expect(configured[0]?.drifts).toContain('live_name');
    expect(configured[1]?.drifts).toEqual(['live_address']);
    expect(configured[2]?.drifts).toEqual(['live_mtu']);
    for (const n of range(3)) {
      expect(await linkOf(sb, mac(n))).toMatchObject({
        name: `multinic${n}`,
        mtu: 1500,
        ipv4: [{ ip: `10.0.${n}.10`, prefix: 24 }],
      });
    }
    const newCalls = (await calls(sb)).slice(callsBefore.length);
    expect(byAgent(newCalls, 'ip', /^link /)).toEqual([
      'link set dev stray0 down',
      'link set dev stray0 name multinic0',
      'link set dev multinic0 up',
    ]);
    expect(keyfiles(sb)).toEqual(files); // a live drift is re-applied, not rewritten
    expect(await connections(sb)).toEqual(range(3).map(active));
    expect(await db.statuses(ids)).toEqual([1, 1, 1]);
    expect(await runAgent(sb, 'plan', env(db))).toMatchObject({ code: 0 });
  }, 90_000);

  it('rolls back what NetworkManager refuses: old keyfile and state back; a failed new NIC gets its old name back', async () => {
    // The kernel refuses a macvlan an MTU above its lower link's, but NetworkManager does not manage a
    // macvlan with an ethernet profile at all. What it does refuse is an address already in use on the
    // port's network, once duplicate address detection is on (ipv4.dad-timeout, an operator setting).
    const dad = '[connection]\nipv4.dad-timeout=300\n';
    const { sb, db } = await node.start(range(4).map(nic), { ...NM, networkManagerConf: dad });
    const ids = await insertRows(
      db,
      range(3).map((n) => row(n)),
    );
    const agent = env(db, { VERIFY_TIMEOUT: '5s' });
    expect(await runAgent(sb, 'once', agent)).toMatchObject({ code: 0 });
    const before = keyfiles(sb);
    // The other end of ports 2 and 3 already holds the addresses they are about to get.
    await sb.execOk(['ip', 'addr', 'add', '10.0.2.20/24', 'dev', 'p-ens5']);
    await sb.execOk(['ip', 'addr', 'add', '10.0.3.10/24', 'dev', 'p-ens6']);

    await db.admin.query('UPDATE multi_interface SET mtu = 1450, address = ? WHERE id = ?', [
      '10.0.2.20',
      ids[2],
    ]);
    await db.admin.query('UPDATE multi_interface SET address = ? WHERE id = ?', ['10.0.0.11', ids[0]]);
    const [fresh] = await insertRows(db, [row(3)]);
    const run = await runAgent(sb, 'once', agent);
    expect(run.code).toBe(1);
    const failed = linesOf(run.logs, 'interface configuration failed, rolled back');
    expect(failed.map((line) => [line.interface_id, line.interface_name, line.error_type])).toEqual([
      [ids[2], 'multinic2', 'verify'],
      [fresh, 'multinic3', 'verify'],
    ]);
    expect(String(failed[0]?.reason)).toMatch(/verification failed: multinic2 has/);
    for (const line of failed) expect(String(line.reason)).not.toMatch(/rollback failed|did not come back/);
    expect(linesOf(run.logs, 'interface configured').map((line) => line.interface_id)).toEqual([ids[0]]);

    // The update: the old keyfile, the old address and MTU, active again.
    const after = keyfiles(sb);
    expect(after.get('multinic2.nmconnection')?.content).toBe(before.get('multinic2.nmconnection')?.content);
    expect(await linkOf(sb, mac(2))).toMatchObject({
      name: 'multinic2',
      mtu: 1500,
      ipv4: [{ ip: '10.0.2.10', prefix: 24 }],
    });
    // The new NIC: no keyfile, no connection, and the name it had before the agent renamed it.
    expect(after.has('multinic3.nmconnection')).toBe(false);
    expect(await linkOf(sb, mac(3))).toMatchObject({ name: 'ens6', ipv4: [] });
    // The rest of the batch holds.
    expect(await linkOf(sb, mac(0))).toMatchObject({ ipv4: [{ ip: '10.0.0.11', prefix: 24 }] });
    expect(after.get('multinic1.nmconnection')).toEqual(before.get('multinic1.nmconnection'));
    expect(await connections(sb)).toEqual(range(3).map(active));
    expect(await db.statuses([...ids, fresh ?? -1])).toEqual([1, 1, 0, 0]);
  }, 90_000);

  it('configures the good rows among bad ones; no bad value, no dash-form MAC reaches a keyfile', async () => {
    const badMac = (k: number) => `fa:16:3e:00:0b:${k.toString(16).padStart(2, '0')}`;
    const bad: { field: string; row: Partial<RawRow> }[] = [
      { field: 'macaddress', row: { macaddress: 'fa:16:3e:zz:0b:01' } },
      { field: 'macaddress', row: { macaddress: 'fa:16:3e:0b\n:0b:1' } },
      { field: 'macaddress', row: { macaddress: '`id`:3e:00:0b:01' } },
      { field: 'address', row: { address: '10.1.5.1\n[ipv4]', cidr: '10.1.5.0/24' } },
      { field: 'address', row: { address: "10.1.6.10'", cidr: '10.1.6.0/24' } },
      { field: 'address', row: { address: '$(id)', cidr: '10.1.7.0/24' } },
      { field: 'cidr', row: { address: '10.1.8.10', cidr: '10.1.8.0/24\nmtu=9' } },
      { field: 'cidr', row: { address: '10.1.9.10', cidr: '`id`/24' } },
      { field: 'mtu', row: { mtu: 67 } },
      { field: 'port_id', row: { port_id: 'p\n[connection]' } },
      { field: 'subnet_id', row: { subnet_id: '"; $(id)' } },
      { field: 'attached_node_name', row: { attached_node_name: 'worker-1\nid=x' } },
    ];
    const badRows = bad.map(({ row: values }, k) => ({
      macaddress: badMac(k),
      address: `10.1.${100 + k}.10`,
      cidr: `10.1.${100 + k}.0/24`,
      mtu: 1500,
      netplan_success: 1,
      ...values,
    }));
    const badNics = badRows.flatMap((r, k) =>
      r.macaddress === badMac(k) ? [{ name: `bad${k}`, mac: badMac(k) }] : [],
    );
    const { sb, db } = await node.start([...range(3).map(nic), ...badNics], NM);
    // Row 1's MAC in upper case with dashes: accepted, written as lower case with colons.
    const dashed = mac(1).toUpperCase().replace(/:/g, '-');
    const goodIds = await insertRows(db, [row(0), row(1, { macaddress: dashed }), row(2)]);
    const badIds = await insertRows(db, badRows);
    // The bad rows that name no node of ours are not even selected: only those of worker-1 are reported.
    const reported = bad.flatMap((b, k) => (b.field === 'attached_node_name' ? [] : [k]));

    const run = await runAgent(sb, 'once', env(db));
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(await db.statuses(goodIds)).toEqual([1, 1, 1]);
    for (const k of reported) {
      const lines = linesOf(run.logs, 'interface row not configured', badIds[k]);
      expect(lines, `row ${k}`).toEqual([expect.objectContaining({ level: 'error', field: bad[k]?.field })]);
    }
    expect(await db.statuses(reported.map((k) => badIds[k] ?? -1))).toEqual(reported.map(() => 0));
    for (const link of badNics) {
      expect(await linkOf(sb, link.mac)).toMatchObject({ name: link.name, ipv4: [] });
    }

    const files = keyfiles(sb);
    expect([...files.keys()]).toEqual(range(3).map((n) => `multinic${n}.nmconnection`));
    const forbidden = ['$(', '`', "'", '"', '10.1.', ':0b:', '[ipv4]\n[', 'mtu=9\n', 'mtu=67', dashed];
    for (const [name, file] of files) {
      const n = Number(name.slice('multinic'.length, -'.nmconnection'.length));
      expect(parseKeyfile(file.content)).toEqual(config(n, `10.0.${n}.10/24`));
      for (const value of forbidden) expect(file.content, `${name} contains ${value}`).not.toContain(value);
    }
    expect(files.get('multinic1.nmconnection')?.content).toContain(`mac-address=${mac(1)}\n`);
    expect(await connections(sb)).toEqual(range(3).map(active));
  }, 90_000);

  it('daemon: removes a deleted row on the second sight: keyfile gone, connection gone, link flushed', async () => {
    const { sb, db } = await node.start([nic(0), nic(1)], NM);
    const ids = await insertRows(db, [row(0), row(1)]);
    const daemon = await startDaemon(sb, env(db, { POLL_INTERVAL: '1s' }));
    await vi.waitFor(async () => expect(await db.statuses(ids)).toEqual([1, 1]), eventually);
    const kept = keyfiles(sb).get('multinic0.nmconnection');

    await db.admin.query('UPDATE multi_interface SET deleted_at = NOW() WHERE id = ?', [ids[1]]);
    const seen = await daemon.waitForLog((line) => line.msg === SEEN && line.interface_name === 'multinic1');
    expect(keyfiles(sb).has('multinic1.nmconnection')).toBe(true);
    const removed = await daemon.waitForLog(
      (line) => line.msg === 'orphaned interface removed' && line.interface_name === 'multinic1',
    );
    expect(Date.parse(removed.time)).toBeGreaterThan(Date.parse(seen.time));
    expect([...keyfiles(sb).keys()]).toEqual(['multinic0.nmconnection']);
    expect(await linkOf(sb, mac(1))).toMatchObject({ name: 'multinic1', ipv4: [] });
    expect(await connections(sb)).toEqual([active(0)]);
    const nmcli = byAgent(await calls(sb), 'nmcli', /multinic1/);
    expect(nmcli).toContain('connection down id multinic1');

    expect(keyfiles(sb).get('multinic0.nmconnection')).toEqual(kept);
    expect(await linkOf(sb, mac(0))).toMatchObject({ ipv4: [{ ip: '10.0.0.10', prefix: 24 }] });
    expect(await db.statuses([ids[0] ?? -1])).toEqual([1]);
    const stopped = await daemon.stop('SIGTERM');
    expect(stopped).toMatchObject({ code: 0, stderr: '' });
    expect(stopped.logs.filter((line) => line.level === 'error')).toEqual([]);
  }, 90_000);

  it('daemon: a database outage deletes nothing and changes nothing; the agent recovers when it is back', async () => {
    const { sb, db } = await node.startRestartable([nic(0), nic(1)], NM);
    const ids = await db.insertRows([row(0), row(1)]);
    const agent = env(db, { POLL_INTERVAL: '1s', MAX_BACKOFF: '2s', DB_CONNECT_TIMEOUT: '1s' });
    const daemon = await startDaemon(sb, agent);
    await vi.waitFor(async () => expect(await db.statuses(ids)).toEqual([1, 1]), eventually);
    const files = keyfiles(sb);
    const links = await sb.links();

    await db.stopServer();
    const callsAtOutage = await sb.calls();
    const failed = await daemon.waitForLog((line) => line.msg === 'cycle failed; host left as it is');
    expect(failed.level).toBe('error');
    expect(String(failed.error_type)).toMatch(/^db_/);
    await sleep(5_000); // several cycles (with backoff) without a database, past the orphan debounce
    expect(keyfiles(sb)).toEqual(files);
    expect(await sb.links()).toEqual(links);
    expect(await connections(sb)).toEqual([active(0), active(1)]);
    expect(await sb.calls()).toEqual(callsAtOutage); // no nmcli, no ip: the host is left as it is
    expect(linesOf(daemon.logs, SEEN)).toEqual([]);

    await db.startServer();
    await db.query('UPDATE multi_interface SET mtu = 1450 WHERE id = ?', [ids[1]]);
    await vi.waitFor(async () => {
      expect(await linkOf(sb, mac(1))).toMatchObject({ name: 'multinic1', mtu: 1450 });
    }, eventually);
    expect(await linkOf(sb, mac(0))).toMatchObject({ ipv4: [{ ip: '10.0.0.10', prefix: 24 }] });
    expect(await db.statuses(ids)).toEqual([1, 1]);
    const stopped = await daemon.stop('SIGTERM');
    expect(stopped).toMatchObject({ code: 0, stderr: '' });
  }, 90_000);

  it('restarts NetworkManager only as the last resort, when it does not answer, and counts it', async () => {
    const { sb, db } = await node.start([nic(0), nic(1)], NM);
    const [first] = await insertRows(db, [row(0)]);
    const daemon = await startDaemon(sb, env(db, { POLL_INTERVAL: '1s', HEALTH_PORT: '8080' }));
    await vi.waitFor(async () => expect(await db.statuses([first ?? -1])).toEqual([1]), eventually);
    expect(networkManagerRestarts(await calls(sb))).toBe(0);

    await sb.execOk([join(scriptDir, 'network-manager.sh'), 'stop']);
    const [second] = await insertRows(db, [row(1)]);
    await vi.waitFor(async () => expect(await db.statuses([second ?? -1])).toEqual([1]), eventually);
    const restart = await daemon.waitForLog((line) => line.msg === 'restarting NetworkManager (last resort)');
    expect(String(restart.reason)).toMatch(/nmcli connection reload failed/);
    expect(networkManagerRestarts(await calls(sb))).toBe(1);
    expect(await linkOf(sb, mac(1))).toMatchObject({
      name: 'multinic1',
      ipv4: [{ ip: '10.0.1.10', prefix: 24 }],
    });
    expect(await linkOf(sb, mac(0))).toMatchObject({
      name: 'multinic0',
      ipv4: [{ ip: '10.0.0.10', prefix: 24 }],
    });
    expect(await connections(sb)).toEqual([active(0), active(1)]);
    const metrics = await httpGet(sb, 8080, '/metrics');
    expect(metrics.body).toMatch(/^multinic_network_manager_restarts_total 1$/m);
    expect(await daemon.stop('SIGTERM')).toMatchObject({ code: 0, stderr: '' });
  }, 90_000);
});
