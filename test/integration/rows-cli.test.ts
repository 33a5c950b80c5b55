/**
 * `multinic-agent rows` on the embedded store, through dist/cli.js (run `npm run build` first), with a
 * temp SQLite file; and the agent's `plan` following what rows wrote.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHostRoot } from '../support/agent-harness.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');
let dir: string;
let hostRoot: string;

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error('dist/cli.js is missing: run `npm run build` first (npm test does)');
  dir = mkdtempSync(join(tmpdir(), 'multinic-rows-'));
  hostRoot = makeHostRoot();
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (hostRoot) rmSync(hostRoot, { recursive: true, force: true });
});

function cli(args: string[], env: Record<string, string>) {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH, NODE_NAME: 'worker-1', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function store(name: string): { path: string; env: Record<string, string> } {
  const path = join(dir, name);
  return { path, env: { DB_URL: `sqlite:${path}` } };
}

describe('multinic-agent rows', () => {
  it('adds rows (creating the file), lists them as a table, changes and deletes them', () => {
    const { path, env } = store('crud.db');
    expect(cli(['rows', 'list'], env)).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('no database') as unknown,
    });
    expect(existsSync(path)).toBe(false);

    const add = cli(
      [
        'rows',
        'add',
        '--mac',
        'fa:16:3e:00:00:01',
        '--address',
        '10.0.0.5',
        '--cidr',
        '10.0.0.0/24',
        '--mtu',
        '1500',
      ],
      env,
    );
    expect(add).toMatchObject({ code: 0, stderr: '' });
    expect(add.stdout).toBe(`created ${path}\nadded row 1 for node worker-1\n`);
    expect(cli(['rows', 'add', '--mac', 'fa:16:3e:00:00:02', '--node', 'worker-2'], env).stdout).toBe(
      'added row 2 for node worker-2\n',
    );

    expect(cli(['rows', 'list'], env).stdout.split('\n')).toEqual([
      'ID  NODE      MAC                ADDRESS                 MTU   STATUS',
      '1   worker-1  fa:16:3e:00:00:01  10.0.0.5 (10.0.0.0/24)  1500  not configured (0)',
      '2   worker-2  fa:16:3e:00:00:02  link only               1500  not configured (0)',
      '',
    ]);

    expect(cli(['rows', 'set', '1', '--mtu', '9000', '--address', '10.0.0.6'], env)).toMatchObject({
      code: 0,
      stdout: 'changed row 1\n',
    });
    expect(cli(['rows', 'delete', '2'], env)).toMatchObject({ code: 0, stdout: 'deleted row 2\n' });
    const listed = cli(['rows', 'list'], env).stdout;
    expect(listed).toContain('10.0.0.6 (10.0.0.0/24)  9000');
    expect(listed).not.toContain('fa:16:3e:00:00:02');
    // A deleted row reads as deleted, not with the netplan_success it had ("not configured (0)").
    expect(cli(['rows', 'list', '--all'], env).stdout.split('\n')).toEqual([
      expect.stringMatching(/^ID +NODE +MAC +ADDRESS +MTU +STATUS +DELETED$/),
      expect.stringMatching(/^1 +worker-1 .* 9000 +not configured \(0\) +-$/),
      expect.stringMatching(
        /^2 +worker-2 +fa:16:3e:00:00:02 +link only +1500 +deleted +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/,
      ),
      '',
    ]);

    const db = new Database(path, { readonly: true });
    try {
      expect(
        db.prepare('SELECT id, mtu, address, deleted_at IS NOT NULL AS deleted FROM multi_interface').all(),
      ).toEqual([
        { id: 1, mtu: 9000, address: '10.0.0.6', deleted: 0 },
        { id: 2, mtu: 1500, address: null, deleted: 1 },
      ]);
    } finally {
      db.close();
    }
  });

  it('refuses a row the agent would skip, writing nothing', () => {
    const { path, env } = store('refused.db');
    expect(cli(['rows', 'add', '--mac', 'fa:16:3e:00:00:01'], env).code).toBe(0);
    const bad = cli(['rows', 'add', '--mac', 'not-a-mac'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^refused, the agent would skip it: macaddress: /);
    expect(cli(['rows', 'set', '1', '--mtu', '20'], env)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('mtu: ') as unknown,
    });
    expect(cli(['rows', 'set', '1', '--address', '10.0.0.7'], env).code).toBe(2);
    const db = new Database(path, { readonly: true });
    try {
      expect(db.prepare('SELECT id, mtu, address FROM multi_interface').all()).toEqual([
        { id: 1, mtu: 1500, address: null },
      ]);
    } finally {
      db.close();
    }
  });

  it('reports a missing row with exit 1 and bad arguments with exit 2 and the usage', () => {
    const { env } = store('errors.db');
    cli(['rows', 'add', '--mac', 'fa:16:3e:00:00:01'], env);
    expect(cli(['rows', 'set', '9', '--mtu', '9000'], env)).toMatchObject({ code: 1, stderr: 'no row 9\n' });
    expect(cli(['rows', 'delete', '9'], env)).toMatchObject({ code: 1, stderr: 'no row 9\n' });
    for (const args of [
      ['rows'],
      ['rows', 'frob'],
      ['rows', 'set', 'x', '--mtu', '1'],
      ['rows', 'list', '--mac', 'a'],
    ]) {
      const result = cli(args, env);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toContain('Usage: multinic-agent rows');
    }
    expect(cli(['rows', '--help'], {})).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('rows delete ID') as unknown,
    });
  });

  it('refuses to edit MySQL, and runs with no database configured at all', () => {
    const mysql = { DB_HOST: 'db', DB_USER: 'u', DB_PASSWORD: '', DB_NAME: 'n' };
    expect(cli(['rows', 'list'], mysql)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('embedded store only') as unknown,
    });
    const none = cli(['rows', 'list'], {});
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no database configured');
  });
});

describe('the agent on the embedded store', () => {
  function agentEnv(db: Record<string, string>): Record<string, string> {
    return {
      ...db,
      HOST_ROOT: hostRoot,
      COMMAND_PREFIX: '',
      PROC_NET_ROUTE: join(hostRoot, 'proc', 'net', 'route'),
    };
  }

  it('plan reads the rows that rows wrote, and follows a delete', () => {
    const { env } = store('plan.db');
    cli(
      ['rows', 'add', '--mac', 'fa:16:3e:de:ad:01', '--address', '10.99.0.10', '--cidr', '10.99.0.0/24'],
      env,
    );
    const before = cli(['plan'], agentEnv(env));
    expect(before.stderr).toBe('');
    // The NIC is not on this machine: the agent waits for it and changes nothing.
    expect(before).toMatchObject({ code: 0 });
    expect(before.stdout).toMatch(/^skip +row 1 +macaddress: waiting for NIC/);
    cli(['rows', 'delete', '1'], env);
    const after = cli(['plan'], agentEnv(env));
    expect(after).toMatchObject({ code: 0, stdout: 'in sync: no changes pending, 0 rows refused\n' });
  });

  it('plan: the last line counts the refused rows; --fail-on-refused exits 3 while any is refused', () => {
    const { path, env } = store('refused-plan.db');
    // A NIC on the (fake) host for row 1, so that a change is pending; row 2's NIC is absent (waiting).
    const sys = join(dir, 'refused-plan-sys');
    mkdirSync(join(sys, 'ens4'), { recursive: true });
    writeFileSync(join(sys, 'ens4', 'type'), '1\n');
    writeFileSync(join(sys, 'ens4', 'address'), 'fa:16:3e:00:00:41\n');
    writeFileSync(join(sys, 'ens4', 'mtu'), '1500\n');
    const planEnv = { ...agentEnv(env), SYS_CLASS_NET: sys };
    cli(
      ['rows', 'add', '--mac', 'fa:16:3e:00:00:41', '--address', '10.41.0.5', '--cidr', '10.41.0.0/24'],
      env,
    );
    cli(['rows', 'add', '--mac', 'fa:16:3e:00:00:42'], env);
    const lastLine = (result: { stdout: string }) => result.stdout.trimEnd().split('\n').at(-1);

    const clean = cli(['plan', '--fail-on-refused'], planEnv);
    expect(clean.code).toBe(2);
    expect(lastLine(clean)).toBe('1 change pending, 0 rows refused, 1 waiting for a NIC');

    // The controller writes rows rows would refuse: an address outside its network, a duplicate MAC.
    const db = new Database(path);
    try {
      const insert = db.prepare(
        'INSERT INTO multi_interface (port_id, subnet_id, macaddress, attached_node_name, address, cidr, mtu)' +
          " VALUES (?, 's', ?, 'worker-1', ?, ?, 1500)",
      );
      insert.run('p3', 'fa:16:3e:00:00:43', '10.0.1.500', '10.0.1.0/24');
      insert.run('p4', 'fa:16:3e:00:00:41', null, null);
    } finally {
      db.close();
    }
    const plain = cli(['plan'], planEnv);
    expect(plain.code).toBe(2);
    expect(lastLine(plain)).toBe('1 change pending, 2 rows refused, 1 waiting for a NIC');
    expect(cli(['plan', '--fail-on-refused'], planEnv).code).toBe(3);

    // In sync (rows 1 and its duplicate 4 deleted): exit 0, the refused row still counted; 3 with the option.
    cli(['rows', 'delete', '1'], env);
    cli(['rows', 'delete', '4'], env);
    const synced = cli(['plan'], planEnv);
    expect(synced.code).toBe(0);
    expect(lastLine(synced)).toBe('in sync: no changes pending, 1 row refused, 1 waiting for a NIC');
    expect(cli(['plan', '--fail-on-refused'], planEnv).code).toBe(3);
    cli(['rows', 'delete', '3'], env);
    expect(cli(['plan', '--fail-on-refused'], planEnv)).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(
        /in sync: no changes pending, 0 rows refused, 1 waiting for a NIC\n$/,
      ) as unknown,
    });
  });

  it('keeps the host as it is when the database file is missing (never an empty desired state)', () => {
    const { path, env } = store('typo.db');
    const result = cli(['plan'], agentEnv(env));
    expect(result.code).toBe(1);
    expect(result.stdout + result.stderr).toContain('db_connection');
    expect(existsSync(path)).toBe(false);
  });
  it('--db URL (or --db=URL) before the command selects the store as DB_URL does', () => {
    const { path } = store('flag.db');
    const added = cli(['--db', `sqlite:${path}`, 'rows', 'add', '--mac', 'fa:16:3e:00:00:09'], {});
    expect(added).toMatchObject({ code: 0, stdout: `created ${path}\nadded row 1 for node worker-1\n` });
    const listed = cli([`--db=sqlite:${path}`, 'rows', 'list'], {});
    expect(listed.stdout).toContain('1   worker-1  fa:16:3e:00:00:09  link only');
    const planned = cli(['--db', `sqlite:${path}`, 'plan'], { HOST_ROOT: hostRoot, OS_TYPE: 'netplan' });
    expect(planned.stdout).toContain('waiting for NIC');
    expect(cli(['--db'], {})).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--db needs a URL') as unknown,
    });
    expect(cli(['--db=', 'rows', 'list'], {})).toMatchObject({ code: 2 });
    // Without --db, DB_URL or DB_HOST the agent refuses to start: no store is ever chosen silently.
    expect(cli(['plan'], { HOST_ROOT: hostRoot })).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('no database configured') as unknown,
    });
  });
});
