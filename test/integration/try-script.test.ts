/**
 * `npm run try` (scripts/try.sh) against the local MariaDB: it prints the plan for its example rows and
 * leaves nothing behind, its scratch database included; TRY_KEEP_DB=1 keeps the database and prints the
 * command that drops it, which works as printed.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { haveTool } from '../support/require-tool.js';

const REPO = join(import.meta.dirname, '..', '..');
const MARIADB = '/usr/bin/mariadb';

function databaseExists(name: string): boolean {
  const result = spawnSync(MARIADB, ['-uroot', '-h127.0.0.1', '-N', '-e', `SHOW DATABASES LIKE '${name}'`], {
    encoding: 'utf8',
  });
  expect(result.status, result.stderr).toBe(0);
  return result.stdout.trim() === name;
}

function tryScript(env: Record<string, string>) {
  return spawnSync('bash', [join(REPO, 'scripts', 'try.sh')], {
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe.runIf(haveTool(MARIADB))('npm run try (scripts/try.sh)', () => {
  it('prints the plan of its example rows and drops its scratch database at the end', () => {
    expect(existsSync(join(REPO, 'dist', 'cli.js'))).toBe(true);
    const name = `multinic_try_${randomBytes(4).toString('hex')}`;
    const result = tryScript({ TRY_DB_NAME: name });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(
      'skip    row 3  address: invalid address: expected an IPv4 dotted quad\n' +
        'in sync: no changes pending, 1 row refused, 2 waiting for a NIC\n',
    );
    expect(result.stdout.trimEnd().split('\n').at(-1)).toBe(
      `--- dropped database ${name} (TRY_KEEP_DB=1 keeps it)`,
    );
    expect(databaseExists(name)).toBe(false);
  });

  it('with TRY_KEEP_DB=1 keeps it and prints a drop command that works as printed', () => {
    const name = `multinic_try_${randomBytes(4).toString('hex')}`;
    const result = tryScript({ TRY_DB_NAME: name, TRY_KEEP_DB: '1' });
    expect(result.status).toBe(0);
    expect(databaseExists(name)).toBe(true);
    const drop = /^--- kept database \S+; drop it with: (.+)$/m.exec(result.stdout)?.[1];
    expect(drop).toBe(`mariadb -uroot -h127.0.0.1 -e 'DROP DATABASE \`${name}\`'`);
    expect(spawnSync('sh', ['-c', drop ?? ''], { encoding: 'utf8' }).status).toBe(0);
    expect(databaseExists(name)).toBe(false);
  });
});
