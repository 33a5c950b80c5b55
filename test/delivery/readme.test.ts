/**
 * The README as a new user follows it. Every command in it (a `bash`/`sh` block, or a `$ `/`# ` line of a
 * transcript) is either run here as written, in a copy of this checkout, or listed with the reason it is
 * not; a command added later without either fails. Where the README shows the output, the output must be
 * what the command prints. The package lists are checked against `.ci/run`, and README.ko.md's code
 * blocks against README.md's.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxSupport } from '../../src/demo/sandbox-support.js';
import { haveTool } from '../support/require-tool.js';

const REPO = join(import.meta.dirname, '..', '..');

interface Block {
  lang: string;
  text: string;
  /** The `##`/`###` heading the block is under. */
  section: string;
}

function blocksOf(file: string): Block[] {
  const blocks: Block[] = [];
  let section = '';
  let open: { lang: string; lines: string[] } | null = null;
  for (const line of readFileSync(join(REPO, file), 'utf8').split('\n')) {
    if (open !== null) {
      if (line === '```') {
        blocks.push({ lang: open.lang, text: open.lines.join('\n'), section });
        open = null;
      } else open.lines.push(line);
    } else if (line.startsWith('```')) open = { lang: line.slice(3), lines: [] };
    else if (/^#{2,3} /.test(line)) section = line.replace(/^#+ /, '');
  }
  return blocks;
}

const README = blocksOf('README.md');

/** The commands of the README: whole shell blocks, and the prompt lines of transcripts. */
function commands(): string[] {
  return README.flatMap((block) => {
    if (block.lang === 'bash' || block.lang === 'sh') return [block.text];
    if (block.lang !== '') return [];
    return block.text.split('\n').filter((line) => /^[$#] /.test(line));
  });
}

/** The block right after the one holding `command`: the output the README shows for it. */
function outputAfter(command: string): string[] {
  const index = README.findIndex((block) => block.text === command);
  const next = README[index + 1];
  expect(next?.lang, `an output block after ${command}`).toBe('');
  return next?.text.split('\n') ?? [];
}

/** Commands this test does not run, and why. */
const NOT_RUN: Record<string, string> = {
  'apt-get update && apt-get install -y netplan.io systemd iproute2\nnpm ci':
    'installs packages (checked against .ci/run below); this test runs after npm ci, and links node_modules',
  'npm run demo': 'watches until Ctrl-C; `npm run demo -- --once` is run instead',
  '# npm run demo': 'the same; test/e2e/demo.test.ts checks that its tables are what the demo prints',
  'npm test': 'the run this test is part of',
};
const notRunByStart: [string, string][] = [
  ['apt-get update && apt-get install -y netplan.io systemd iproute2 util-linux', 'installs packages'],
  ['# set database.* and agent.*', 'needs a cluster (test/delivery/deploy-script.test.ts runs deploy.sh)'],
  ['# ifcfg-multinic0', 'an ifcfg file, not a command (test/unit sources the golden files with bash)'],
  ['npm run bench ', 'minutes of load; npm run bench checks itself'],
  [
    'HOST_ROOT=/ COMMAND_PREFIX= DB_HOST=db.example',
    'needs a node the original agent configured and its database: test/e2e/agent-takeover.test.ts runs plan on one',
  ],
];
/** Commands this test runs, each in an `it` below: these, and the Embedded store's shell blocks. */
const RUN = ['npm run demo -- --once', 'npm run try', '$ npm run demo -- --files-only --once'];
const EMBEDDED = README.filter((block) => block.section === 'Embedded store' && block.lang === 'sh');

function readme(command: string): string {
  expect(commands(), 'the README still has this command').toContain(command);
  return command;
}

let checkout: string;

/** Runs a README command with bash in the copy of the checkout, as a user's shell would. */
function shell(command: string, env: Record<string, string> = {}) {
  const result = spawnSync('bash', ['-eo', 'pipefail', '-c', command], {
    cwd: checkout,
    // stdin from /dev/null: with a socket bash would read ~/.bashrc as under sshd.
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    encoding: 'utf8',
    timeout: 100_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

beforeAll(() => {
  // The checkout as a user has it after `npm ci`: its files (as in this working tree), its node_modules.
  checkout = mkdtempSync(join(tmpdir(), 'multinic-readme-'));
  const files = spawnSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
    cwd: REPO,
    encoding: 'utf8',
  }).stdout;
  for (const file of files.split('\n').filter((f) => f !== '' && !f.startsWith('test/'))) {
    mkdirSync(join(checkout, dirname(file)), { recursive: true });
    cpSync(join(REPO, file), join(checkout, file), { errorOnExist: false });
  }
  symlinkSync(join(REPO, 'node_modules'), join(checkout, 'node_modules'));
});
afterAll(() => {
  if (checkout) rmSync(checkout, { recursive: true, force: true });
});

describe('README.md as written', () => {
  it('Quick start: npm run demo -- --once prints the node once and exits', () => {
    const result = shell(readme('npm run demo -- --once'));
    expect(result.stderr).toBe('');
    expect(result.code, result.stdout).toBe(0);
    // As root with what a sandbox needs, the sandbox demo (three NICs configured); else the files-only one.
    expect(result.stdout).toContain(
      sandboxSupport().ok
        ? '  multinic2  fa:16:3e:00:00:03  -                  1500  92-multinic2.yaml  3    configured (1)'
        : '  create  multinic2  row 3  fa:16:3e:00:00:03  link only  mtu 1500  (missing_file)',
    );
    expect(result.stdout).toMatch(/^demo over: .* removed$/m);
  }, 120_000);

  it.runIf(haveTool('/usr/bin/mariadb'))(
    'Quick start: npm run try prints what the README shows and drops its database',
    () => {
      const command = readme('npm run try');
      const result = shell(command);
      expect(result.code, result.stderr).toBe(0);
      for (const line of outputAfter(command)) expect(result.stdout).toContain(`${line}\n`);
    },
    60_000,
  );

  it('Embedded store: the rows commands and plan, outside a container, print what the README shows', () => {
    expect(EMBEDDED).toHaveLength(2);
    const [rows, plan] = EMBEDDED;
    const together = `${readme(rows?.text ?? '')}\necho '--- plan'\n${readme(plan?.text ?? '')}`;
    const result = shell(together);
    expect(result.stderr).toBe('');
    expect(result.code, result.stdout).toBe(0);
    const [rowsOut = '', planOut = ''] = result.stdout.split('--- plan\n');
    // The DELETED column holds the time of the run.
    const stamp = (text: string) => text.replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/g, 'TIME');
    expect(stamp(rowsOut)).toContain(stamp(outputAfter(rows?.text ?? '').join('\n')));
    expect(planOut).toBe(`${outputAfter(plan?.text ?? '').join('\n')}\n`);
  }, 120_000);

  it('Embedded store: the files-only demo prints the transcript the README shows', () => {
    const transcript = README.find((b) => b.text.startsWith('$ npm run demo -- --files-only --once'));
    const [prompt, ...shown] = transcript?.text.split('\n') ?? [];
    const result = shell(readme(prompt ?? '').slice(2));
    expect(result.code, result.stderr).toBe(0);
    // The temporary directory's name differs from run to run.
    const tmp = (text: string) => text.replace(/\/tmp\/multinic-demo-\w+/g, 'TMP');
    expect(tmp(result.stdout)).toBe(tmp(`${shown.join('\n')}\n`));
  }, 120_000);

  it('every command is run above or listed with the reason it is not', () => {
    const unaccounted = commands().filter(
      (command) =>
        !RUN.includes(command) &&
        !EMBEDDED.some((block) => block.text === command) &&
        NOT_RUN[command] === undefined &&
        !notRunByStart.some(([start]) => command.startsWith(start)),
    );
    expect(unaccounted).toEqual([]);
  });
});

describe('the README and .ci/run list the same packages', () => {
  const ciRun = readFileSync(join(REPO, '.ci', 'run'), 'utf8');
  const ciPackages = /^APT_PACKAGES=\(([^)]*)\)$/m.exec(ciRun)?.[1]?.split(' ') ?? [];
  const aptLine = (section: string) => {
    const block = README.find((b) => b.section === section && b.text.startsWith('apt-get '));
    return /apt-get install -y ([^\n]+)/.exec(block?.text ?? '')?.[1]?.split(' ') ?? [];
  };

  it('Run the tests: exactly the packages .ci/run installs, in its order', () => {
    expect(ciPackages.length).toBeGreaterThan(5);
    expect(aptLine('Run the tests')).toEqual(ciPackages);
  });

  it('Quick start: its one apt command comes before the demo, with packages .ci/run installs too', () => {
    const quick = README.filter((b) => b.section === 'Quick start');
    expect(quick[0]?.text.split('\n')[0]).toMatch(/^apt-get update && apt-get install -y /);
    expect(aptLine('Quick start')).toEqual(['netplan.io', 'systemd', 'iproute2']);
    for (const pkg of aptLine('Quick start')) expect(ciPackages).toContain(pkg);
  });
});

describe('README.ko.md', () => {
  it('has the same code blocks as README.md, byte for byte and in order', () => {
    expect(blocksOf('README.ko.md').map((b) => b.text)).toEqual(README.map((b) => b.text));
  });
});
