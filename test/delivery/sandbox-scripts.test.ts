// The sandbox scripts ship with the package (the rooted demo runs them as root): they must be shellcheck
// clean like scripts/deploy.sh, and executable.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { haveTool } from '../support/require-tool.js';
import { REPO_ROOT } from './support/helm.js';

const SANDBOX = join(REPO_ROOT, 'sandbox');
const SCRIPTS = [
  ...readdirSync(SANDBOX)
    .filter((name) => name.endsWith('.sh'))
    .map((name) => join(SANDBOX, name)),
  ...readdirSync(join(SANDBOX, 'bin')).map((name) => join(SANDBOX, 'bin', name)),
  join(REPO_ROOT, 'test', 'sandbox', 'trace', 'trace.sh'),
];

describe('sandbox scripts', () => {
  it('are the init script, add-nic, network-manager and the three stand-ins', () => {
    expect(SCRIPTS.map((path) => path.slice(REPO_ROOT.length + 1)).sort()).toEqual([
      'sandbox/add-nic.sh',
      'sandbox/bin/networkctl',
      'sandbox/bin/systemctl',
      'sandbox/bin/udevadm',
      'sandbox/init.sh',
      'sandbox/network-manager.sh',
      'test/sandbox/trace/trace.sh',
    ]);
  });

  it.each(SCRIPTS)('%s is executable', (path) => {
    expect(() => accessSync(path, constants.X_OK)).not.toThrow();
  });

  it('are shellcheck clean', () => {
    if (!haveTool('/usr/bin/shellcheck')) return;
    const run = spawnSync('shellcheck', ['--severity=style', ...SCRIPTS], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.stdout + run.stderr).toBe('');
    expect(run.status).toBe(0);
  });
});
