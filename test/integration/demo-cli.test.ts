/**
 * `multinic-agent demo` (files only) through dist/cli.js (run `npm run build` first): the seeded rows and
 * the plan as printed, the plan following a row edit, and nothing left behind after Ctrl-C.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

/** The edit commands the demo prints under "Edit the rows in another terminal". */
function printedEdits(output: string): string[] {
  const after = output.slice(output.indexOf('Edit the rows in another terminal'));
  return [...after.matchAll(/^ {2}((?:sudo )?node \S+ --db sqlite:\S+ rows .+)$/gm)].map((m) => m[1] ?? '');
}

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
      // The printed commands run as printed, in a shell of the same user: no sudo (a root shell often
      // has none), no DB_URL or PATH entry to add.
      const commands = printedEdits(output);
      expect(commands).toHaveLength(4);
      expect(commands[0]).toBe(`node ${CLI} --db sqlite:${join(dir, 'multinic.db')} rows set 1 --mtu 9000`);
      const edit = spawnSync('sh', ['-c', commands[0] ?? ''], {
        env: { PATH: process.env.PATH },
        encoding: 'utf8',
      });
      expect(edit).toMatchObject({ status: 0, stdout: 'changed row 1\n', stderr: '' });
      await until('plan changed');
      // The demo writes line by line: the plan's lines may come in a later chunk than its heading.
      await until('  create  multinic0  row 1  fa:16:3e:00:00:01  10.10.0.11/24  mtu 9000  (missing_file)');
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(existsSync(dir)).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  });
  it('prints its edit commands with sudo only when it runs as root through sudo', async () => {
    const printed = async (env: Record<string, string>) => {
      const child = spawn(process.execPath, [CLI, 'demo', '--files-only'], {
        env: { PATH: process.env.PATH, ...env },
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise((resolve) => child.on('exit', resolve));
      const end = Date.now() + 15_000;
      while (!output.includes('Ctrl-C stops the demo') && Date.now() < end)
        await new Promise((r) => setTimeout(r, 100));
      child.kill('SIGINT');
      await exited;
      return printedEdits(output);
    };
    const root = process.getuid?.() === 0;
    const underSudo = await printed({ SUDO_USER: 'alice' });
    expect(underSudo).toHaveLength(4);
    // As root through sudo the other terminal is alice's: sudo. Not root: SUDO_USER means nothing.
    for (const command of underSudo) expect(command.startsWith('sudo node '), command).toBe(root);
    for (const command of await printed({ SUDO_USER: 'root' })) expect(command).toMatch(/^node /);
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
