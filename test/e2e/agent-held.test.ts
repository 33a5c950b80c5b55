// A row that turns bad never takes down the NIC it configured (issue 12), proven with the real daemon on
// both real stacks: netplan + systemd-networkd, and NetworkManager (keyfiles). Ten converged NICs carry
// continuous traffic; eight rows turn bad at once, one per kind of refusal; for ten cycles every file stays
// byte-identical, every link keeps its address and MTU, not one datagram is lost and the agent runs no
// command; health says `held`. Fixed, the rows are configured again with nothing re-applied; a deleted
// row is removed after the debounce. A port swap removes the old NIC and configures the new in one batch.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it, vi } from 'vitest';
import type { RawRow } from '../support/mariadb.js';
import { parseProm, valueOf } from '../support/prom.js';
import { agentEnv, startDaemon } from '../sandbox/agent.js';
import { httpGet } from '../sandbox/http.js';
import type { Link } from '../sandbox/links.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import { describeNetworkManagerSandbox, describeSandbox } from '../sandbox/support.js';
import {
  useNode,
  type Node,
  calls,
  eventually,
  insertRows,
  linesOf,
  mac,
  nic,
  row,
  type Call,
  type FileState,
} from './agent-fixtures.js';
import { startTraffic } from './traffic.js';

const range = (count: number) => Array.from({ length: count }, (_, n) => n);
const PRIMARY = { name: 'eth0', mac: 'fa:16:3e:ff:ff:00' };
const HELD = 'interface held: its configuration is kept as it is';
const UNHELD = 'interface no longer held';
const SEEN = 'orphaned interface seen; removed next cycle if still orphaned';

interface Stack {
  label: string;
  options: { networkManager?: boolean };
  env: Record<string, string>;
  dir: string;
  fileOf(n: number): string;
}

const NETPLAN: Stack = {
  label: 'netplan + systemd-networkd',
  options: {},
  env: {},
  dir: 'etc/netplan',
  fileOf: (n) => `9${n}-multinic${n}.yaml`,
};

const KEYFILE: Stack = {
  label: 'NetworkManager keyfiles',
  options: { networkManager: true },
  env: { OS_TYPE: 'keyfile' },
  dir: 'etc/NetworkManager/system-connections',
  fileOf: (n) => `multinic${n}.nmconnection`,
};

/** One bad value per kind of refusal, each applied to its own converged row (rows 1–8 of 0–9; a new MAC absent from the host is
 * `capacity` here, since all ten names are taken: `waiting` is proven by the planner's tests). */
const REFUSALS: [kind: string, n: number, change: Partial<RawRow>, reason: RegExp][] = [
  ['invalid MAC', 1, { macaddress: 'zz:zz:zz:zz:zz:zz' }, /invalid MAC/],
  ['invalid address', 2, { address: '10.0.2.500' }, /invalid address/],
  ['invalid cidr', 3, { cidr: '10.0.3.0/33' }, /invalid network/],
  ['invalid MTU', 4, { mtu: 0 }, /invalid MTU/],
  ['duplicate MAC', 5, { macaddress: mac(0) }, /duplicate MAC: row 1/],
  ['duplicate address', 6, { address: '10.0.0.10', cidr: '10.0.0.0/24' }, /duplicate address: row 1/],
  ['capacity (its new MAC finds no free name)', 7, { macaddress: mac(10) }, /capacity/],
  ['protected (names the primary NIC)', 8, { macaddress: PRIMARY.mac }, /protected: eth0/],
];

function files(sb: Sandbox, stack: Stack): Map<string, FileState> {
  const dir = join(sb.hostRoot, stack.dir);
  const found = new Map<string, FileState>();
  for (const name of readdirSync(dir).sort()) {
    const info = statSync(join(dir, name));
    const content = readFileSync(join(dir, name), 'utf8');
    found.set(name, { content, ino: info.ino, mtimeMs: info.mtimeMs, mode: info.mode & 0o777 });
  }
  return found;
}

/** The configured NICs as the kernel shows them, by MAC. */
async function nicLinks(sb: Sandbox): Promise<Map<string, Link>> {
  const links = await sb.links();
  return new Map(range(10).map((n) => [mac(n), links.find((link) => link.mac === mac(n)) as Link]));
}

interface Health {
  status: string;
  interfaces: { id: number; state: string; last_error: string | null }[];
  held: { name: string; row_id: number | null; reason: string }[];
}

async function health(sb: Sandbox): Promise<Health> {
  return JSON.parse((await httpGet(sb, 8080, '/')).body) as Health;
}

async function metric(sb: Sandbox, name: string): Promise<number | undefined> {
  return valueOf(parseProm((await httpGet(sb, 8080, '/metrics')).body).samples, name);
}

/** Commands the agent ran itself (through the tracers): any of them during a hold is a defect. */
function byAgent(all: readonly Call[]): Call[] {
  return all.filter((call) => call.parent === 'node' || call.parent === 'nsenter');
}

async function converged(stack: Stack, node: Node) {
  const nics = [PRIMARY, ...range(10).map(nic), nic(10)];
  const { sb, db } = await node.start(nics, stack.options);
  await sb.execOk(['ip', 'addr', 'add', '192.168.0.5/24', 'dev', 'eth0']);
  await sb.execOk(['ip', 'link', 'set', 'eth0', 'up']);
  await sb.execOk(['ip', 'route', 'add', 'default', 'via', '192.168.0.1', 'dev', 'eth0']);
  const ids = await insertRows(
    db,
    range(10).map((n) => row(n)),
  );
  const daemon = await startDaemon(sb, agentEnv(db.agentEnv, { POLL_INTERVAL: '1s', ...stack.env }));
  await vi.waitFor(async () => expect(await db.statuses(ids)).toEqual(Array(10).fill(1)), {
    ...eventually,
    timeout: 60_000,
  });
  await vi.waitFor(async () => {
    for (const [n, link] of await nicLinks(sb)) {
      expect(link).toMatchObject({ name: `multinic${Number.parseInt(n.slice(-2), 16)}` });
    }
  }, eventually);
  return { sb, db, ids, daemon };
}

async function waitCycles(sb: Sandbox, count: number, each: () => Promise<void>): Promise<void> {
  const start = (await metric(sb, 'multinic_polling_cycles_total')) ?? 0;
  for (;;) {
    await each();
    if (((await metric(sb, 'multinic_polling_cycles_total')) ?? 0) >= start + count) return;
    await sleep(300);
  }
}

function heldScenario(stack: Stack) {
  const node = useNode();

  it('eight refused rows hold their NICs for ten cycles: files, links and traffic untouched; fixed, nothing re-applied; deleted, removed', async () => {
    const { sb, db, ids, daemon } = await converged(stack, node);
    const idOf = (n: number) => ids[n] ?? -1;
    const traffic = await startTraffic(
      sb,
      range(10).map((n) => ({
        peer: `p-ens${n + 3}`,
        address: `10.0.${n}.10`,
        peerAddress: `10.0.${n}.1`,
        prefix: 24,
      })),
    );
    const filesBefore = files(sb, stack);
    const linksBefore = await nicLinks(sb);
    const callsBefore = byAgent(await calls(sb)).length;

    for (const [, n, change] of REFUSALS) {
      const columns = Object.keys(change)
        .map((column) => `${column} = ?`)
        .join(', ');
      await db.admin.query(`UPDATE multi_interface SET ${columns} WHERE id = ?`, [
        ...Object.values(change),
        idOf(n),
      ]);
    }
    await vi.waitFor(async () => expect((await health(sb)).held).toHaveLength(8), eventually);
    const during = await health(sb);
    expect(during.status).toBe('degraded');
    for (const [kind, n, , reason] of REFUSALS) {
      const held = during.held.find((entry) => entry.row_id === idOf(n));
      expect(held, kind).toMatchObject({ name: `multinic${n}` });
      expect(held?.reason, kind).toMatch(reason);
      expect(during.interfaces.find((entry) => entry.id === idOf(n))?.state, kind).toBe('held');
    }
    expect(
      during.interfaces.filter((entry) => entry.state === 'configured').map((entry) => entry.id),
    ).toEqual([idOf(0), idOf(9)]);

    await waitCycles(sb, 10, async () => {
      expect(files(sb, stack)).toEqual(filesBefore);
      expect(await nicLinks(sb)).toEqual(linksBefore);
    });
    expect(await db.statuses(ids)).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(await metric(sb, 'multinic_held_interfaces')).toBe(8);
    expect(byAgent(await calls(sb)).length).toBe(callsBefore);
    for (const [kind, n] of REFUSALS)
      expect(
        linesOf(daemon.logs, HELD).filter((l) => l.interface_name === `multinic${n}`),
        kind,
      ).toHaveLength(1);

    // Fixed: configured again, every row 1, nothing applied (nothing differs from what the host has).
    for (const n of range(10)) {
      const { macaddress, address, cidr, mtu } = row(n);
      await db.admin.query(
        'UPDATE multi_interface SET macaddress = ?, address = ?, cidr = ?, mtu = ? WHERE id = ?',
        [macaddress, address, cidr, mtu, idOf(n)],
      );
    }
    await vi.waitFor(async () => expect(await db.statuses(ids)).toEqual(Array(10).fill(1)), eventually);
    await vi.waitFor(async () => expect((await health(sb)).held).toEqual([]), eventually);
    const after = await health(sb);
    expect(after.status).toBe('healthy');
    expect(after.interfaces.map((entry) => entry.state)).toEqual(Array(10).fill('configured'));
    expect(await metric(sb, 'multinic_held_interfaces')).toBe(0);
    expect(linesOf(daemon.logs, UNHELD)).toHaveLength(8);
    expect(files(sb, stack)).toEqual(filesBefore);
    expect(await nicLinks(sb)).toEqual(linksBefore);
    expect(byAgent(await calls(sb)).length).toBe(callsBefore);

    const { byAddress } = await traffic.stop();
    for (const n of range(10)) {
      const counts = byAddress[`10.0.${n}.10`];
      expect(counts?.sent, `traffic to multinic${n}`).toBeGreaterThan(1_000);
      expect(counts?.received, `traffic to multinic${n}`).toBe(counts?.sent);
    }

    // Deleted: removed after the debounce, its link flushed; the other NICs untouched.
    await db.admin.query('UPDATE multi_interface SET deleted_at = NOW() WHERE id = ?', [idOf(1)]);
    await daemon.waitForLog((line) => line.msg === SEEN && line.interface_name === 'multinic1');
    await daemon.waitForLog(
      (line) => line.msg === 'orphaned interface removed' && line.interface_name === 'multinic1',
    );
    expect(files(sb, stack).has(stack.fileOf(1))).toBe(false);
    await vi.waitFor(async () => {
      const all = await sb.links();
      expect(
        all.find((link) => link.mac === mac(1)),
        JSON.stringify(all),
      ).toMatchObject({ ipv4: [] });
    }, eventually);
    const rest = await nicLinks(sb);
    for (const n of range(10).filter((i) => i !== 1))
      expect(rest.get(mac(n))).toEqual(linksBefore.get(mac(n)));
    expect((await daemon.stop()).code).toBe(0);
  }, 240_000);

  it('a port swap removes the old NIC and configures the new MAC in one batch, one apply', async () => {
    const { sb, db } = await node.start([nic(0), nic(1), nic(7)], stack.options);
    const ids = await insertRows(db, [row(0), row(1)]);
    const daemon = await startDaemon(sb, agentEnv(db.agentEnv, { POLL_INTERVAL: '1s', ...stack.env }));
    await vi.waitFor(async () => expect(await db.statuses(ids)).toEqual([1, 1]), eventually);
    const before = byAgent(await calls(sb)).length;

    await db.admin.query('UPDATE multi_interface SET macaddress = ? WHERE id = ?', [mac(7), ids[1]]);
    const removed = await daemon.waitForLog((line) => line.msg === 'orphaned interface removed');
    const created = await daemon.waitForLog(
      (line) => line.msg === 'interface configured' && line.mac_address === mac(7),
    );
    expect(removed).toMatchObject({ interface_name: 'multinic1', mac_address: mac(1), action: 'remove' });
    expect(created).toMatchObject({ interface_name: 'multinic2', interface_id: ids[1], action: 'create' });
    expect(linesOf(daemon.logs, SEEN)).toEqual([]); // no debounce: both halves of the swap in one batch
    await vi.waitFor(async () => expect(await db.statuses(ids)).toEqual([1, 1]), eventually);
    const links = await sb.links();
    expect(links.find((link) => link.mac === mac(1))?.ipv4).toEqual([]);
    expect(links.find((link) => link.mac === mac(7))).toMatchObject({
      name: 'multinic2',
      ipv4: [{ ip: '10.0.1.10', prefix: 24 }],
    });
    expect([...files(sb, stack).keys()]).toEqual([stack.fileOf(0), stack.fileOf(2)]);
    const batch = byAgent(await calls(sb)).slice(before);
    const applies = batch.filter((call) =>
      stack === NETPLAN
        ? call.command === 'netplan' && call.args === 'apply'
        : call.command === 'nmcli' && /^connection reload/.test(call.args),
    );
    expect(applies).toHaveLength(1);
    expect((await daemon.stop()).code).toBe(0);
  }, 90_000);
}

describeSandbox(`a refused row holds its NIC: ${NETPLAN.label}`, () => heldScenario(NETPLAN));
describeNetworkManagerSandbox(`a refused row holds its NIC: ${KEYFILE.label}`, () => heldScenario(KEYFILE));
