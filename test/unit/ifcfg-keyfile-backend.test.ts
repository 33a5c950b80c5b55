// The NetworkManager backend's file side, on a temporary host root: what scan() reads back (owned,
// reserved, unparsable, hand-edited), the drift plan() sees in it, and what validate() accepts. The apply
// side runs against a real NetworkManager in test/e2e/agent-nm.test.ts.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { renderIfcfg } from '../../src/core/ifcfg.js';
import { renderKeyfile } from '../../src/core/keyfile.js';
import { plan } from '../../src/core/plan.js';
import type { LiveLink } from '../../src/core/types.js';
import {
  createNetworkManagerBackend,
  type NetworkManagerOptions,
} from '../../src/host/backends/network-manager.js';
import { createRunner, type CommandRunner } from '../../src/host/exec.js';
import { createHostFs } from '../../src/host/host-fs.js';
import { configOf, linkOf, macOf, rowOf } from '../support/fixtures.js';
import { goIfcfg } from '../support/original-files.js';
import { haveTool } from '../support/require-tool.js';

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

function hostRoot(dir: string, files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'multinic-nm-'));
  roots.push(root);
  mkdirSync(join(root, dir), { recursive: true });
  mkdirSync(join(root, 'var/lib/multinic'), { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(root, dir, name), content);
  return root;
}

/** A runner that must not be used: ifcfg validation and scanning spawn nothing. */
const noProcesses: CommandRunner = {
  spawned: 0,
  run: (argv) => Promise.reject(new Error(`unexpected command: ${argv.join(' ')}`)),
  start: (argv) => {
    throw new Error(`unexpected command: ${argv.join(' ')}`);
  },
  close: () => Promise.resolve(),
};

function backend(
  format: 'ifcfg' | 'keyfile',
  root: string,
  runner: CommandRunner = noProcesses,
  adopt = true,
) {
  const options: NetworkManagerOptions = {
    format,
    fs: createHostFs(root),
    runner,
    commandRoot: root,
    applyTimeoutMs: 5_000,
    scratchId: () => 'test',
    readLinks: () => Promise.resolve([]),
    now: () => 0,
    sleep: () => Promise.resolve(),
    onRestart: () => undefined,
    adopt,
  };
  return createNetworkManagerBackend(options);
}

const DIR = 'etc/sysconfig/network-scripts';

describe('ifcfg backend: scan, drift and validation on files', () => {
  const owned = renderIfcfg(configOf(0), 1);
  const edited = renderIfcfg(configOf(1), 2).replace('IPADDR="10.0.1.10"', 'IPADDR="10.0.1.99"');
  const injected = renderIfcfg(configOf(3), 4).replace('MTU="1500"', 'MTU="$(reboot)"');
  const files = {
    'ifcfg-multinic0': owned,
    'ifcfg-multinic1': edited,
    'ifcfg-multinic2': 'DEVICE=multinic2\nBOOTPROTO=dhcp\n', // someone else's
    'ifcfg-multinic3': injected,
    'ifcfg-eth0': 'DEVICE=eth0\nBOOTPROTO=dhcp\n',
    'route-multinic0': '10.9.0.0/16 via 10.0.0.1\n',
  };

  it('reads its own files, reserves names it does not own, and ignores every other file', async () => {
    const scan = await backend('ifcfg', hostRoot(DIR, files)).scan();
    expect(scan.files.map((f) => [f.path, f.config])).toEqual([
      [`/${DIR}/ifcfg-multinic0`, configOf(0)],
      [`/${DIR}/ifcfg-multinic1`, configOf(1, { address: { ip: '10.0.1.99', prefix: 24 } })],
      [`/${DIR}/ifcfg-multinic3`, null],
    ]);
    expect(scan.reservedNames).toEqual(['multinic2']);
  });

  it('plans a hand edit as a drift, shell syntax as unparsable, and never uses a reserved name', async () => {
    const scan = await backend('ifcfg', hostRoot(DIR, files)).scan();
    const links: LiveLink[] = [0, 1, 3].map((n) => linkOf(configOf(n)));
    links.push(linkOf(configOf(4, { name: 'ens7' }), { ipv4: [] }));
    const rows = [0, 1, 3, 4].map((n) => rowOf(n));
    const decided = plan(rows, {
      files: scan.files,
      links,
      protectedNames: [],
      orphanCandidates: [],
      reservedNames: scan.reservedNames,
      others: scan.others,
    });
    expect(
      decided.changes.map((c) => (c.kind === 'remove' ? c.kind : [c.kind, c.nic.name, c.drifts])),
    ).toEqual([
      ['update', 'multinic1', ['address']],
      ['update', 'multinic3', ['unparsable_file']],
      ['create', 'multinic4', ['missing_file']], // multinic2 is someone else's
    ]);
  });

  it('validates by parsing back, without running anything, and names the file it refuses', async () => {
    const nm = backend('ifcfg', hostRoot(DIR, {}));
    const good = [0, 1].map((n) => ({
      path: nm.pathOf(`multinic${n}`),
      name: `multinic${n}`,
      content: nm.render(configOf(n), n + 1),
    }));
    expect(await nm.validate(good)).toEqual({ ok: true });
    const bad = { path: nm.pathOf('multinic3'), name: 'multinic3', content: injected };
    expect(await nm.validate([...good, bad])).toEqual({
      ok: false,
      name: 'multinic3',
      message: `/${DIR}/ifcfg-multinic3: not in the shape the agent writes`,
    });
  });

  it('refuses APPLY_MODE=try (no trial with NetworkManager)', async () => {
    await expect(
      backend('ifcfg', hostRoot(DIR, {})).startTrial({ configure: [], remove: [] }),
    ).rejects.toThrow(/APPLY_MODE=try needs netplan/);
  });
});

describe.skipIf(!haveTool('/usr/bin/nmcli'))(
  'keyfile backend: validation through the real nmcli --offline',
  () => {
    const KEYFILES = 'etc/NetworkManager/system-connections';

    it('accepts the rendered set (one nmcli per file) and leaves no scratch file behind', async () => {
      const root = hostRoot(KEYFILES, {});
      const runner = createRunner({ prefix: [], defaultTimeoutMs: 10_000 });
      try {
        const nm = backend('keyfile', root, runner);
        const files = [0, 1, 2].map((n) => ({
          path: nm.pathOf(`multinic${n}`),
          name: `multinic${n}`,
          content: renderKeyfile(configOf(n, n === 2 ? { address: null, mtu: 9000 } : {}), n + 1),
        }));
        expect(await nm.validate(files)).toEqual({ ok: true });
        expect(runner.spawned).toBe(3);
        expect(readdirSync(join(root, 'var/lib/multinic/scratch'))).toEqual([]);

        const handEdited = { ...files[0]!, content: `${files[0]!.content}\n[proxy]\n` };
        expect(await nm.validate([handEdited])).toEqual({
          ok: false,
          name: 'multinic0',
          message: `/${KEYFILES}/multinic0.nmconnection: not in the shape the agent writes`,
        });
      } finally {
        await runner.close();
      }
    });
  },
);

describe("NetworkManager backends: the original agent's files (takeover; Debian has no ifcfg-rh to load them live)", () => {
  const original = goIfcfg('multinic8', macOf(0), '10.0.0.10/24');

  it('ifcfg: a file in the original shape is adoptable under its own name; others are foreign with why', async () => {
    const scan = await backend(
      'ifcfg',
      hostRoot(DIR, {
        'ifcfg-multinic8': original,
        'ifcfg-multinic2': `${original.replace(/multinic8/g, 'multinic2')}GATEWAY=10.0.0.1\n`,
        'ifcfg-multinic8.bak': original,
      }),
    ).scan();
    expect(scan.files).toEqual([]);
    expect(scan.reservedNames).toEqual(['multinic2', 'multinic8']);
    expect(scan.others.map((o) => [o.path, o.original?.name ?? null, o.reason])).toEqual([
      [`/${DIR}/ifcfg-multinic2`, null, "not in the original agent's shape: unexpected key GATEWAY"],
      [`/${DIR}/ifcfg-multinic8`, 'multinic8', ''],
      [`/${DIR}/ifcfg-multinic8.bak`, null, 'not a path multinic-agent writes'],
    ]);
    expect(scan.others[1]?.original).toEqual({ ...configOf(0), name: 'multinic8' });
  });

  it('ifcfg with ADOPT_UNMANAGED=false: the same file is foreign', async () => {
    const scan = await backend(
      'ifcfg',
      hostRoot(DIR, { 'ifcfg-multinic8': original }),
      noProcesses,
      false,
    ).scan();
    expect(scan.others.map((o) => [o.original, o.reason])).toEqual([
      [null, "in the original agent's shape, but adoption is off (ADOPT_UNMANAGED=false)"],
    ]);
  });

  it('keyfile: the original never wrote keyfiles, so any keyfile without our header is foreign', async () => {
    const dir = 'etc/NetworkManager/system-connections';
    const content = renderKeyfile(configOf(0), 1).split('\n').slice(2).join('\n');
    const scan = await backend('keyfile', hostRoot(dir, { 'multinic0.nmconnection': content })).scan();
    expect(scan.others.map((o) => [o.name, o.original, o.reason])).toEqual([
      ['multinic0', null, 'not written by multinic-agent (the original never wrote this format)'],
    ]);
  });
});
