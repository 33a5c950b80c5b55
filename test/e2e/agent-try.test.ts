// Safe mode (APPLY_MODE=try) of the real agent inside a sandbox, on the real `netplan try` and
// systemd-networkd: a trial confirmed (SIGUSR1) only after verification passed, otherwise reverted
// (SIGINT), the failed NIC's old file put back and the rest confirmed in a second trial.
import { existsSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { expect, it, vi } from 'vitest';
import { agentEnv, runAgent, startDaemon } from '../sandbox/agent.js';
import type { Link } from '../sandbox/links.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import { describeSandbox } from '../sandbox/support.js';
import {
  useNode,
  agentCalls,
  calls,
  eventually,
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
const TRY_READY = '/run/netplan/netplan-try.ready';

async function linkOf(sb: Sandbox, macAddress: string): Promise<Link | undefined> {
  return (await sb.links()).find((link) => link.mac === macAddress);
}

/** No `netplan try` left running in the sandbox, and no ready file of one. */
async function expectNoTrial(sb: Sandbox): Promise<void> {
  expect(existsSync(sb.outsidePath(TRY_READY))).toBe(false);
  expect(await trials(sb)).toEqual([]);
}

/** Command lines of the `netplan try` processes running in the sandbox. */
async function trials(sb: Sandbox): Promise<string[]> {
  const script = 'for f in /proc/[0-9]*/cmdline; do tr "\\0" " " <"$f" 2>/dev/null; echo; done';
  const { stdout } = await sb.execOk(['bash', '-c', script]);
  return stdout.split('\n').filter((line) => /netplan.* try /.test(line));
}

describeSandbox('agent end to end: safe mode (APPLY_MODE=try) on real netplan try + systemd-networkd', () => {
  const node = useNode();

  it('configures 10 new NICs in one netplan try, confirmed after verification, without netplan apply', async () => {
    const { sb, db } = await node.start(range(10).map(nic));
    const ids = await insertRows(
      db,
      range(10).map((n) => row(n, { mtu: 1400 + n * 10 })),
    );
    const env = agentEnv(db.agentEnv, { APPLY_MODE: 'try' });

    const run = await runAgent(sb, 'once', env);
    const all = await calls(sb);
    console.log(
      `safe mode, 10 new NICs: \`once\` took ${run.seconds.toFixed(2)} s (exit ${run.code}),` +
        ` ${agentCalls(all, 'netplan', /^try/).length} netplan try, ${networkdRestarts(all)} networkd restart(s)`,
    );
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.logs.filter((line) => line.level === 'error' || line.level === 'warn')).toEqual([]);
    expect(linesOf(run.logs, 'interface configured').map((line) => line.interface_id)).toEqual(ids);
    expect(agentCalls(all, 'netplan').map((call) => call.args.split(' ')[0])).toEqual(['generate', 'try']);
    expect(agentCalls(all, 'netplan', /^try/).map((call) => call.args)).toEqual(['try --timeout 120']);
    expect(networkdRestarts(all)).toBe(1); // the trial; no revert

    const links = await sb.links();
    for (const n of range(10)) {
      expect(links.find((link) => link.mac === mac(n))).toEqual({
        name: `multinic${n}`,
        mac: mac(n),
        mtu: 1400 + n * 10,
        up: true,
        ipv4: [{ ip: `10.0.${n}.10`, prefix: 24 }],
      });
    }
    const files = netplanFiles(sb);
    expect([...files.keys()]).toEqual(range(10).map((n) => `9${n}-multinic${n}.yaml`));
    expect(await db.statuses(ids)).toEqual(Array(10).fill(1));
    await expectNoTrial(sb);

    // Confirmed, not merely pending: nothing reverts it, and the next run finds nothing to do.
    const before = await sb.calls();
    const again = await runAgent(sb, 'once', env);
    expect(again).toMatchObject({ code: 0, stderr: '' });
    expect(linesOf(again.logs, 'interface configured')).toEqual([]);
    expect(await sb.calls()).toEqual(before);
    expect(await sb.links()).toEqual(links);
  }, 60_000);

  it('reverts a trial with an MTU the kernel refuses: old file and state back, the other change confirmed', async () => {
    const { sb, db } = await node.start([nic(0), nic(1)]);
    await plugRefusingNic(sb);
    const ids = await insertRows(
      db,
      range(3).map((n) => row(n)),
    );
    // Verification of the refused MTU cannot pass: keep its wait short.
    const env = agentEnv(db.agentEnv, { APPLY_MODE: 'try', VERIFY_TIMEOUT: '5s' });
    expect(await runAgent(sb, 'once', env)).toMatchObject({ code: 0 });
    expect((await sb.exec(['ip', 'link', 'set', 'multinic2', 'mtu', '9000'])).code).not.toBe(0);
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
    expect(String(failed?.reason)).not.toMatch(/did not come back|restoring the previous files failed/);
    expect(linesOf(run.logs, 'interface configured').map((line) => line.interface_id)).toEqual([ids[0]]);

    // Two trials (the batch, reverted; the good change alone, confirmed), never netplan apply.
    const newCalls = (await calls(sb)).slice(callsBefore.length);
    expect(agentCalls(newCalls, 'netplan').map((call) => call.args.split(' ')[0])).toEqual([
      'generate',
      'try',
      'try',
    ]);
    const after = netplanFiles(sb);
    expect(after.get('92-multinic2.yaml')?.content).toBe(before.get('92-multinic2.yaml')?.content);
    expect(parseYaml(after.get('90-multinic0.yaml')?.content ?? '')).toMatchObject({
      network: { ethernets: { multinic0: { addresses: ['10.0.0.11/24'] } } },
    });
    expect(after.get('91-multinic1.yaml')).toEqual(before.get('91-multinic1.yaml'));
    expect(await linkOf(sb, mac(2))).toMatchObject({
      name: 'multinic2',
      mtu: 1500,
      ipv4: [{ ip: '10.0.2.10', prefix: 24 }],
    });
    expect(await linkOf(sb, mac(0))).toMatchObject({ mtu: 1500, ipv4: [{ ip: '10.0.0.11', prefix: 24 }] });
    expect(await linkOf(sb, mac(1))).toMatchObject({ mtu: 1500, ipv4: [{ ip: '10.0.1.10', prefix: 24 }] });
    expect(await db.statuses(ids)).toEqual([1, 1, 0]);
    await expectNoTrial(sb);
  }, 60_000);

  it('after a kill -9 during an unconfirmed trial, the next start puts the old working file back', async () => {
    const { sb, db } = await node.start([nic(0), nic(1)]);
    await plugRefusingNic(sb);
    const ids = await insertRows(
      db,
      range(3).map((n) => row(n)),
    );
    const env = agentEnv(db.agentEnv, { APPLY_MODE: 'try', VERIFY_TIMEOUT: '5s' });
    expect(await runAgent(sb, 'once', env)).toMatchObject({ code: 0 });
    const before = netplanFiles(sb);

    // A change the kernel refuses: the trial waits while the agent verifies, and the agent dies there.
    await db.admin.query('UPDATE multi_interface SET mtu = 9000, address = ? WHERE id = ?', [
      '10.0.2.20',
      ids[2],
    ]);
    const daemon = await startDaemon(sb, { ...env, VERIFY_TIMEOUT: '20s', POLL_INTERVAL: '1h' });
    await vi.waitFor(() => expect(existsSync(sb.outsidePath(TRY_READY))).toBe(true), {
      timeout: 20_000,
      interval: 50,
    });
    await daemon.stop('SIGKILL');
    // netplan try, its stdin closed, reverts by itself; the tried file stays behind.
    await vi.waitFor(async () => expect(await trials(sb)).toEqual([]), eventually);
    // (networkd added the tried address next to the old one, and keeps it: the agent's to clean.)
    expect(await linkOf(sb, mac(2))).toMatchObject({ mtu: 1500 });
    const left = netplanFiles(sb).get('92-multinic2.yaml')?.content ?? '';
    expect(parseYaml(left)).toMatchObject({ network: { ethernets: { multinic2: { mtu: 9000 } } } });

    // The next start: the unconfirmed file must not stay as the node's configuration. What it finds
    // is the tried file, equal to the row: a 'reapply', which has no old file to go back to.
    const run = await runAgent(sb, 'once', env);
    expect(run.code).toBe(1);
    expect(linesOf(run.logs, 'interface configuration failed, rolled back', ids[2])).toHaveLength(1);
    expect(await db.statuses(ids)).toEqual([1, 1, 0]);
    expect(netplanFiles(sb).get('92-multinic2.yaml')?.content).toBe(before.get('92-multinic2.yaml')?.content);
    expect(await linkOf(sb, mac(2))).toMatchObject({ mtu: 1500, ipv4: [{ ip: '10.0.2.10', prefix: 24 }] });
    await expectNoTrial(sb);
  }, 90_000);
});
