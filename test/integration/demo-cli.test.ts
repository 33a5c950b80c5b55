/**
 * `multinic-agent demo` (files only) through dist/cli.js (run `npm run build` first): the seeded rows and
 * the plan as printed, the plan following a row edit, and nothing left behind after Ctrl-C.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

function demoDir(output: string): string {
  const dir = /simulated node demo-node in (\S+)/.exec(output)?.[1];
  expect(dir).toBeDefined();
  return dir ?? '';
}

describe('multinic-agent demo (files only)', () => {
  it('--once prints the seeded rows and the plan, then removes the simulated node', () => {
    const result = spawnSync(process.execPath, [CLI, 'demo', '--once', '--files-only'], {
      env: { PATH: process.env.PATH },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(0);
    expect(result.stderr).toBe('');
    const lines = result.stdout.split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        '  ID  NODE       MAC                ADDRESS                    MTU   STATUS',
        '  1   demo-node  fa:16:3e:00:00:01  10.10.0.11 (10.10.0.0/24)  1500  not configured (0)',
        '  3   demo-node  fa:16:3e:00:00:03  link only                  1500  not configured (0)',
        '  create  multinic0  row 1  fa:16:3e:00:00:01  10.10.0.11/24  mtu 1500  (missing_file)',
        '  create  multinic1  row 2  fa:16:3e:00:00:02  10.20.0.11/24  mtu 9000  (missing_file)',
        '  create  multinic2  row 3  fa:16:3e:00:00:03  link only  mtu 1500  (missing_file)',
      ]),
    );
    const dir = demoDir(result.stdout);
    expect(result.stdout).toContain(`demo over: ${dir} removed`);
    expect(existsSync(dir)).toBe(false);
  });

  it('follows a row edit made with rows, and Ctrl-C leaves nothing behind', async () => {
    const child = spawn(process.execPath, [CLI, 'demo', '--files-only'], { env: { PATH: process.env.PATH } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const until = async (text: string) => {
      const end = Date.now() + 15_000;
      while (!output.includes(text) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      expect(output).toContain(text);
    };
    try {
      await until('Ctrl-C stops the demo');
      const dir = demoDir(output);
      const edit = spawnSync(process.execPath, [CLI, 'rows', 'set', '1', '--mtu', '9000'], {
        env: { PATH: process.env.PATH, DB_URL: `sqlite:${join(dir, 'multinic.db')}`, NODE_NAME: 'demo-node' },
        encoding: 'utf8',
      });
      expect(edit.stdout).toBe('changed row 1\n');
      await until('plan changed');
      expect(output).toContain(
        '  create  multinic0  row 1  fa:16:3e:00:00:01  10.10.0.11/24  mtu 9000  (missing_file)',
      );
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(existsSync(dir)).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  });
  it('without root it says why and shows the files-only demo instead of the sandbox one', () => {
    // As root (CI), run it as nobody; otherwise this process already is not root.
    const asNobody =
      process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
    const [command, ...args] = [...asNobody, process.execPath, CLI, 'demo', '--once'];
    const result = spawnSync(command, args, {
      env: { PATH: process.env.PATH, HOME: '/tmp' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^\(no sandbox: not root; this is the files-only demo/);
    expect(result.stdout).toContain(
      '  create  multinic1  row 2  fa:16:3e:00:00:02  10.20.0.11/24  mtu 9000  (missing_file)',
    );
    expect(existsSync(demoDir(result.stdout))).toBe(false);
  });
});
