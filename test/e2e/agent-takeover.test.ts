// Taking over a node from the original Go agent (issue 14) on the real netplan + systemd-networkd: the
// node is laid out as the original leaves it (its files, 0644, no header, applied by `netplan apply`: NICs
// renamed and addressed, one MAC on a name our naming would not pick, a link-only row, a file whose MAC
// has no row), rows at 1. `plan` shows the takeover; the daemon then takes the files over in place with
// traffic flowing: not one datagram lost, no apply, nothing restarted, the row-less file left alone.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it, vi } from 'vitest';
import { OWNERSHIP_HEADER } from '../../src/core/ownership.js';
import { goNetplan } from '../support/original-files.js';
import { parseProm, valueOf } from '../support/prom.js';
import { agentEnv, runAgent, startDaemon } from '../sandbox/agent.js';
import { httpGet } from '../sandbox/http.js';
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
  networkdRestarts,
  nic,
  row,
} from './agent-fixtures.js';
import { startTraffic } from './traffic.js';

/** The original's files: port 0 on multinic8 (its naming race), port 1 on multinic1, port 2 link only on
 * multinic0, port 3 (no row) on multinic3. */
const ORIGINAL: [file: string, name: string, port: number, address: string | null][] = [
  ['98-multinic8.yaml', 'multinic8', 0, '10.0.0.10/24'],
  ['91-multinic1.yaml', 'multinic1', 1, '10.0.1.10/24'],
  ['90-multinic0.yaml', 'multinic0', 2, null],
  ['93-multinic3.yaml', 'multinic3', 3, '10.0.3.10/24'],
];

function netplanDir(sb: Sandbox): string {
  return join(sb.hostRoot, 'etc', 'netplan');
}

describeSandbox('taking over a node the original agent configured (real netplan + systemd-networkd)', () => {
  const node = useNode();

  it('adopts in place with traffic flowing: 0 lost, no apply, names kept, the row-less file left alone', async () => {
    const { sb, db } = await node.start([0, 1, 2, 3].map(nic));
    for (const [file, name, port, address] of ORIGINAL) {
      writeFileSync(join(netplanDir(sb), file), goNetplan(name, mac(port), address), { mode: 0o644 });
    }
    await sb.execOk(['netplan', 'apply']); // as the original did
    await vi.waitFor(async () => {
      const links = await sb.links();
      for (const [, name, port, address] of ORIGINAL) {
        const link = links.find((l) => l.mac === mac(port));
        expect(link?.name).toBe(name);
        expect(link?.ipv4).toEqual(address === null ? [] : [{ ip: address.split('/')[0], prefix: 24 }]);
      }
    }, eventually);
    const ids = await insertRows(db, [
      row(0, { netplan_success: 1 }),
      row(1, { netplan_success: 1 }),
      row(2, { netplan_success: 1, address: null, cidr: null }),
    ]);
    const nicLinks = async () =>
      (await sb.links()).filter((link) => [0, 1, 2, 3].some((n) => link.mac === mac(n)));
    const linksBefore = await nicLinks();
    const rowless = readFileSync(join(netplanDir(sb), '93-multinic3.yaml'));

    const env = agentEnv(db.agentEnv, { POLL_INTERVAL: '1s' });
    const preview = await runAgent(sb, 'plan', env);
    expect(preview.code, preview.stderr).toBe(2);
    const planned = preview.stdout.split('\n');
    expect(planned.filter((line) => line.startsWith('adopt'))).toEqual([
      `adopt   multinic8  row ${ids[0]}  ${mac(0)}  10.0.0.10/24  mtu 1500  ()`,
      `adopt   multinic1  row ${ids[1]}  ${mac(1)}  10.0.1.10/24  mtu 1500  ()`,
      `adopt   multinic0  row ${ids[2]}  ${mac(2)}  link only  mtu 1500  ()`,
    ]);
    expect(planned).toContain(
      "foreign /etc/netplan/93-multinic3.yaml  (in the original agent's shape, but its MAC is on no valid row of this node)",
    );

    const traffic = await startTraffic(
      sb,
      [0, 1, 3].map((n) => ({
        peer: `p-ens${n + 3}`,
        address: `10.0.${n}.10`,
        peerAddress: `10.0.${n}.1`,
        prefix: 24,
      })),
    );
    const callsBefore = (await calls(sb)).length;
    const daemon = await startDaemon(sb, env);
    await vi.waitFor(() => expect(linesOf(daemon.logs, 'interface taken over')).toHaveLength(3), eventually);
    const cycles = async () =>
      valueOf(
        parseProm((await httpGet(sb, 8080, '/metrics')).body).samples,
        'multinic_polling_cycles_total',
      ) ?? 0;
    const after = await cycles();
    await vi.waitFor(async () => expect(await cycles()).toBeGreaterThanOrEqual(after + 3), eventually);
    const { byAddress } = await traffic.stop();

    // Not one datagram lost on the adopted NICs (nor on the one left alone).
    for (const n of [0, 1, 3]) {
      const counts = byAddress[`10.0.${n}.10`];
      expect(counts?.sent).toBeGreaterThan(100);
      expect(counts?.received, `10.0.${n}.10`).toBe(counts?.sent);
    }
    // No apply, no restart, no ip: one `netplan generate` validated the rewritten files; later cycles ran nothing.
    const made = (await calls(sb)).slice(callsBefore);
    expect(agentCalls(made, 'netplan').map((call) => call.args.split(' ')[0])).toEqual(['generate']);
    expect(agentCalls(made, 'ip')).toEqual([]);
    expect(networkdRestarts(made)).toBe(0);
    expect(await nicLinks()).toEqual(linksBefore);

    for (const [file, , port] of ORIGINAL.slice(0, 3)) {
      const path = join(netplanDir(sb), file);
      const content = readFileSync(path, 'utf8');
      expect(content.startsWith(`${OWNERSHIP_HEADER}\n# multinic-agent format=2 row=${ids[port]}\n`)).toBe(
        true,
      );
      expect(statSync(path).mode & 0o777).toBe(0o600);
    }
    expect(readFileSync(join(netplanDir(sb), '93-multinic3.yaml')).equals(rowless)).toBe(true);
    expect(statSync(join(netplanDir(sb), '93-multinic3.yaml')).mode & 0o777).toBe(0o644);
    expect(await db.statuses(ids)).toEqual([1, 1, 1]);
    const health = JSON.parse((await httpGet(sb, 8080, '/')).body) as {
      foreign_files: unknown[];
      status: string;
    };
    expect(health.foreign_files).toEqual([
      {
        path: '/etc/netplan/93-multinic3.yaml',
        reason: "in the original agent's shape, but its MAC is on no valid row of this node",
      },
    ]);
    expect(linesOf(daemon.logs, 'foreign file left alone')).toHaveLength(1);
    expect((await daemon.stop()).code).toBe(0);

    const again = await runAgent(sb, 'plan', env);
    expect(again.code, again.stdout).toBe(0);
  }, 120_000);
});
