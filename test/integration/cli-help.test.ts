/**
 * Every command answers `--help` (and `-h`, and `help <command>`) with its own usage and exit 0, without
 * any settings; a wrong option prints that usage on stderr with exit 2. The commands are read from the main
 * help, so a command added later is held to the same rule. Through dist/cli.js (run `npm run build` first).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

function cli(args: string[]) {
  // No DB_*, HOST_ROOT or NODE_NAME: help must not need settings.
  const result = spawnSync(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

let commands: string[] = [];

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error('dist/cli.js is missing: run `npm run build` first (npm test does)');
  const help = cli(['--help']).stdout;
  const list = help.slice(help.indexOf('Commands:'), help.indexOf('Options:'));
  commands = [...list.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((match) => match[1] ?? '');
});

describe('multinic-agent <command> --help', () => {
  it('the main help lists the seven commands', () => {
    expect(commands).toEqual(['run', 'once', 'plan', 'metrics', 'demo', 'fleet', 'rows']);
  });

  it('each command prints its own usage on stdout and exits 0, with --help, -h and help <command>', () => {
    for (const command of commands) {
      const long = cli([command, '--help']);
      expect(long, command).toMatchObject({ code: 0, stderr: '' });
      expect(long.stdout, command).toMatch(
        new RegExp(`^Usage: multinic-agent (\\[--db URL\\] )?${command}\\b`),
      );
      expect(long.stdout, command).not.toContain('Commands:');
      expect(cli([command, '-h']), command).toEqual(long);
      expect(cli(['help', command]), command).toEqual(long);
      expect(cli(['--help', command]), command).toEqual(long);
    }
  });

  it('the usages are different texts, each naming its exit codes', () => {
    const usages = commands.map((command) => cli([command, '--help']).stdout);
    expect(new Set(usages).size).toBe(commands.length);
    for (const usage of usages) expect(usage).toMatch(/Exit codes?:? /);
  });

  it('--help after the command options still answers, e.g. rows add --help, demo --once --help', () => {
    expect(cli(['rows', 'add', '--help'])).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('rows add --mac MAC') as unknown,
    });
    expect(cli(['demo', '--once', '--help'])).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('--files-only') as unknown,
    });
    expect(cli(['--db', 'sqlite:./x.db', 'plan', '--help'])).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('--fail-on-refused') as unknown,
    });
  });

  it('an unknown option or argument prints the command’s usage on stderr and exits 2', () => {
    for (const [command, ...rest] of [
      ['run', '--frob'],
      ['once', 'now'],
      ['plan', '--once'],
      ['metrics', '--all'],
      ['demo', '--help-me'],
    ]) {
      const result = cli([command ?? '', ...rest]);
      expect(result.code, command).toBe(2);
      expect(result.stdout, command).toBe('');
      expect(result.stderr, command).toContain(`Usage: multinic-agent`);
      expect(result.stderr, command).toContain(cli([command ?? '', '--help']).stdout.split('\n')[0]);
    }
  });

  it('no command, an unknown command or help for an unknown one: the main help on stderr, exit 2', () => {
    for (const args of [[], ['frob'], ['help', 'frob'], ['toString']]) {
      const result = cli(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toContain('Commands:');
    }
    expect(cli(['help'])).toMatchObject({ code: 0, stdout: expect.stringContaining('Commands:') as unknown });
  });
});
