import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentEnv, makeHostRoot } from '../support/agent-harness.js';
import { createTestDatabase, type TestDatabase } from '../support/mariadb.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');
let db: TestDatabase;
let hostRoot: string;
const SECRET = 'not-the-real-password-42';

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error('dist/cli.js is missing: run `npm run build` first (npm test does)');
  db = await createTestDatabase('cli');
  hostRoot = makeHostRoot();
  // A row whose NIC is not on this machine: the agent waits for it and touches nothing.
  await db.insertRow({ macaddress: 'fa:16:3e:de:ad:01', address: '10.99.0.10', cidr: '10.99.0.0/24' });
});
afterAll(async () => {
  await db?.drop();
  if (hostRoot) rmSync(hostRoot, { recursive: true, force: true });
});

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    ...agentEnv(db, hostRoot),
    HEALTH_PORT: '0',
    HEALTH_BIND: '127.0.0.1',
    ...extra,
  };
}

function cli(args: string[], extra: Record<string, string> = {}, baseEnv = env(extra)) {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    env: baseEnv,
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('multinic-agent CLI', () => {
  it('prints its version and help', () => {
    expect(cli(['--version'])).toMatchObject({ code: 0, stdout: '0.1.0\n' });
    const help = cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/run +run the daemon/);
    expect(help.stdout).toMatch(/plan +print what a cycle would change/);
  });

  it('lists every invalid setting and exits 2', () => {
    const result = cli(['once'], {}, { PATH: process.env.PATH, DB_HOST: 'db', POLL_INTERVAL: 'often' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('DB_USER is required');
    expect(result.stderr).toContain('POLL_INTERVAL must be a duration');
    expect(result.stderr).toContain('DB_PASSWORD or DB_PASSWORD_FILE is required');
  });

  it('with no database setting at all says so once, not once per missing DB_* variable', () => {
    const result = cli(['plan'], {}, { PATH: process.env.PATH, POLL_INTERVAL: 'often' });
    expect(result.code).toBe(2);
    const problems = result.stderr.split('\n').filter((line) => line.startsWith('  - '));
    expect(problems).toEqual([
      expect.stringContaining('POLL_INTERVAL must be a duration'),
      expect.stringMatching(/^ {2}- no database configured: set DB_HOST, DB_USER, DB_NAME and DB_PASSWORD/),
    ]);
  });

  it('refuses an unknown host OS instead of guessing', () => {
    const root = mkdtempSync(join(tmpdir(), 'multinic-os-'));
    try {
      const result = cli(['once'], { HOST_ROOT: root });
      expect(result.code).toBe(2);
      expect(result.stdout).toContain(`no /etc/os-release under the host root ${root}`);
      // Outside a container the way out is two settings: the message names them.
      expect(result.stdout).toContain('outside one set HOST_ROOT=/ COMMAND_PREFIX=');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('plan: exits 0 with nothing to change and says why the row waits', () => {
    const result = cli(['plan']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/skip +row \d+ +macaddress: waiting for NIC/);
    expect(result.stdout.trimEnd().split('\n').at(-1)).toBe(
      'in sync: no changes pending, 0 rows refused, 1 waiting for a NIC',
    );
  });

  it('once: logs JSON lines with level word, ISO time, msg and the row id; never the password', () => {
    const result = cli(['once'], { DB_PASSWORD: db.settings.password });
    expect(result.code).toBe(0);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const waiting = lines.find((line) => line.msg === 'interface row not configured');
    expect(waiting).toMatchObject({ level: 'warn', state: 'waiting', mac_address: 'fa:16:3e:de:ad:01' });
    expect(String(waiting?.time)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(typeof waiting?.interface_id).toBe('number');
  });

  it('once: a database that cannot be reached fails the command (exit 1) without leaking the password', () => {
    const result = cli(['once'], { DB_PORT: '1', DB_PASSWORD: SECRET, DB_CONNECT_TIMEOUT: '1s' });
    expect(result.code).toBe(1);
    expect(`${result.stdout}${result.stderr}`).not.toContain(SECRET);
    expect(result.stdout).toContain('"error_type":"db_connection"');
  });

  it('run: completes the first cycle at once (not after an interval), holds the node lock, exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [CLI, 'run'], { env: env({ POLL_INTERVAL: '1h' }) });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const started = Date.now();
    while (!output.includes('interface row not configured') && Date.now() - started < 15_000) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(output).toContain('interface row not configured');
    // A second agent on the same host refuses to run while the first holds the lock, and touches nothing.
    const second = cli(['once']);
    expect(second.code).toBe(1);
    expect(second.stdout).toContain('"error_type":"lock_held"');
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('"msg":"agent stopped"');
    expect(existsSync(join(hostRoot, 'var', 'lib', 'multinic', 'agent.lock'))).toBe(false);
  });
});
