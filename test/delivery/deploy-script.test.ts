/**
 * scripts/deploy.sh, run as an operator runs it, against stand-in docker, nerdctl, kubectl, helm,
 * sshpass, ssh and scp on PATH that record their arguments (and the SSHPASS they were given). Nothing
 * else is on PATH but the basic tools the script uses, so a tool that is "not installed" really is not.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { haveTool } from '../support/require-tool.js';
import { CHART_DIR, REPO_ROOT } from './support/helm.js';

const SCRIPT = join(REPO_ROOT, 'scripts', 'deploy.sh');
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;
// Quotes, spaces and shell metacharacters: it must pass through untouched and never reach an argv.
const PASSWORD = `p@ss w'rd"$HOME;1`;

// Real tools the script and the stand-ins use; everything else is absent.
const BASE_TOOLS = ['bash', 'env', 'sed', 'head', 'mktemp', 'rm', 'dirname', 'cat', 'basename'];
type Tool = 'docker' | 'nerdctl' | 'kubectl' | 'helm' | 'sshpass' | 'ssh' | 'scp';
const ALL_TOOLS: Tool[] = ['docker', 'nerdctl', 'kubectl', 'helm', 'sshpass', 'ssh', 'scp'];

// Each stand-in appends one line: its name, its arguments, and SSHPASS as it saw it, tab-separated.
const RECORD = `printf '%s' "$(basename "$0")" >>"$FAKE_LOG"
for arg in "$@"; do printf '\\t%s' "$arg" >>"$FAKE_LOG"; done
printf '\\tSSHPASS=%s\\n' "\${SSHPASS-<unset>}" >>"$FAKE_LOG"`;

const STAND_INS: Record<Tool, string> = {
  docker: builder(),
  nerdctl: builder(),
  kubectl: `${RECORD}
[ "$1 $2" = "get nodes" ] && printf '%b' "\${FAKE_NODES-}"
exit "\${FAKE_KUBECTL_RC:-0}"`,
  helm: `${RECORD}
exit "\${FAKE_HELM_RC:-0}"`,
  sshpass: `${RECORD}
[ "$1" = -e ] || { echo "sshpass stand-in: only -e is expected" >&2; exit 2; }
[ -n "\${SSHPASS-}" ] || { echo "sshpass stand-in: SSHPASS is empty" >&2; exit 2; }
shift
exec "$@"`,
  scp: `${RECORD}
args=("$@")
[ -s "\${args[$# - 2]}" ] || { echo "scp stand-in: the archive to copy is missing" >&2; exit 1; }
exit "\${FAKE_SCP_RC:-0}"`,
  ssh: `${RECORD}
case " $* " in *" \${FAKE_SSH_FAIL_ON-none} "*) echo "ssh: connect to host refused" >&2; exit 255 ;; esac
exit 0`,
};

function builder(): string {
  return `${RECORD}
case "$1" in
  build) exit "\${FAKE_BUILD_RC:-0}" ;;
  save) [ "$2" = -o ] && printf 'image archive' >"$3" ;;
  image) [ "$2" = inspect ] && printf 'sha256:0f0e0d\\n' ;;
esac
exit 0`;
}

interface Call {
  tool: string;
  argv: string[];
  sshpass: string;
}

interface Result {
  code: number | null;
  stderr: string;
  calls: Call[];
}

let work: string;
let base: string;

beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'multinic-deploy-'));
  base = join(work, 'base');
  mkdirSync(base);
  for (const tool of BASE_TOOLS) {
    const found = spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    symlinkSync(found, join(base, tool));
  }
});

afterEach(() => {
  rmSync(work, { recursive: true, force: true });
});

function deploy(options: { tools?: Tool[]; env?: Record<string, string> } = {}): Result {
  const fakes = join(work, `fakes-${Math.random().toString(16).slice(2)}`);
  mkdirSync(fakes);
  for (const tool of options.tools ?? ALL_TOOLS) {
    writeFileSync(join(fakes, tool), `#!${join(base, 'bash')}\n${STAND_INS[tool]}\n`);
    chmodSync(join(fakes, tool), 0o755);
  }
  const log = join(fakes, 'calls.log');
  writeFileSync(log, '');
  const run = spawnSync(SCRIPT, [], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { PATH: `${fakes}:${base}`, HOME: work, FAKE_LOG: log, ...options.env },
  });
  const calls = readFileSync(log, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [tool = '', ...rest] = line.split('\t');
      const sshpass = (rest.pop() ?? '').replace(/^SSHPASS=/, '');
      return { tool, argv: rest, sshpass };
    });
  return { code: run.status, stderr: run.stderr, calls };
}

function only(result: Result, tool: string, first: string): Call[] {
  return result.calls.filter((c) => c.tool === tool && c.argv[0] === first);
}

function indexOf(result: Result, tool: string, first: string): number {
  return result.calls.findIndex((c) => c.tool === tool && c.argv[0] === first);
}

function flag(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i < 0 ? undefined : argv[i + 1];
}

function setStrings(argv: readonly string[]): string[] {
  return argv.flatMap((arg, i) => (argv[i - 1] === '--set-string' ? [arg] : []));
}

describe('scripts/deploy.sh', () => {
  it('is shellcheck clean', () => {
    if (!haveTool('/usr/bin/shellcheck')) return;
    const run = spawnSync('shellcheck', ['--severity=style', SCRIPT], { encoding: 'utf8', timeout: 20_000 });
    expect(run.stdout + run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('builds with docker, then installs or upgrades the release and waits for it', () => {
    const result = deploy();
    expect(result.stderr).not.toMatch(/error/);
    expect(result.code).toBe(0);
    const builds = only(result, 'docker', 'build');
    expect(builds.map((c) => c.argv)).toEqual([['build', '-t', `multinic-agent:${VERSION}`, REPO_ROOT]]);
    const [upgrade, ...more] = result.calls.filter((c) => c.tool === 'helm');
    expect(more).toEqual([]);
    expect(upgrade!.argv.slice(0, 4)).toEqual(['upgrade', '--install', 'multinic-agent', CHART_DIR]);
    expect(upgrade!.argv).toContain('--wait');
    expect(upgrade!.argv).toContain('--create-namespace');
    expect(flag(upgrade!.argv, '--namespace')).toBe('multinic-system');
    expect(setStrings(upgrade!.argv)).toEqual(
      expect.arrayContaining(['image.repository=multinic-agent', `image.tag=${VERSION}`]),
    );
    // A rebuilt image under the same tag still rolls the agents.
    expect(setStrings(upgrade!.argv)).toContain('podAnnotations.multinic-agent/image-id=sha256:0f0e0d');
    expect(indexOf(result, 'docker', 'build')).toBeLessThan(indexOf(result, 'helm', 'upgrade'));
    // Without SSH_PASSWORD nothing is shipped, and the operator is told the nodes need the image.
    expect(result.calls.filter((c) => ['ssh', 'scp', 'sshpass', 'kubectl'].includes(c.tool))).toEqual([]);
    expect(result.stderr).toMatch(/SSH_PASSWORD is not set/);
  });

  it('never uninstalls or deletes anything first', () => {
    const result = deploy({ env: { SSH_PASSWORD: PASSWORD, FAKE_NODES: '10.0.0.1\\n' } });
    expect(result.code).toBe(0);
    const destructive = result.calls.filter((c) =>
      c.argv.some((a) => ['uninstall', 'delete', 'del', 'rollback', 'rm', 'rmi'].includes(a)),
    );
    expect(destructive).toEqual([]);
  });

  it('honours NAMESPACE and IMAGE_TAG', () => {
    const result = deploy({ env: { NAMESPACE: 'multinic-prod', IMAGE_TAG: 'v2.0.0' } });
    expect(result.code).toBe(0);
    expect(only(result, 'docker', 'build')[0]?.argv).toContain('multinic-agent:v2.0.0');
    const upgrade = only(result, 'helm', 'upgrade')[0]!;
    expect(flag(upgrade.argv, '--namespace')).toBe('multinic-prod');
    expect(setStrings(upgrade.argv)).toContain('image.tag=v2.0.0');
  });

  it('falls back to nerdctl when docker is not installed', () => {
    const result = deploy({ tools: ['nerdctl', 'kubectl', 'helm'] });
    expect(result.code).toBe(0);
    expect(only(result, 'nerdctl', 'build')).toHaveLength(1);
    expect(only(result, 'helm', 'upgrade')).toHaveLength(1);
  });

  it.each([
    ['docker or nerdctl', ['kubectl', 'helm'] as Tool[], /neither docker nor nerdctl/],
    ['helm', ['docker', 'kubectl'] as Tool[], /missing on PATH: helm/],
    ['kubectl', ['docker', 'helm'] as Tool[], /missing on PATH: kubectl/],
  ])('stops with a clear error, before building, without %s', (_label, tools, message) => {
    const result = deploy({ tools });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(message);
    expect(result.calls).toEqual([]);
  });

  it('with SSH_PASSWORD, needs sshpass, ssh and scp before it builds', () => {
    const result = deploy({
      tools: ['docker', 'kubectl', 'helm', 'ssh', 'scp'],
      env: { SSH_PASSWORD: PASSWORD },
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/missing on PATH: sshpass/);
    expect(result.calls).toEqual([]);
  });

  describe('with SSH_PASSWORD set', () => {
    const env = { SSH_PASSWORD: PASSWORD, FAKE_NODES: '10.0.0.1\\n10.0.0.2\\n\\n10.0.0.3\\n' };

    it('copies the image to every node and imports it into containerd, then installs', () => {
      const result = deploy({ env });
      expect(result.stderr).not.toMatch(/error/);
      expect(result.code).toBe(0);
      const nodes = only(result, 'kubectl', 'get')[0]!;
      expect(nodes.argv.slice(0, 4)).toEqual([
        'get',
        'nodes',
        '-o',
        expect.stringMatching(/^jsonpath=/) as string,
      ]);
      expect(nodes.argv[3]).toContain('InternalIP');
      const save = only(result, 'docker', 'save')[0]!;
      expect(save.argv[3]).toBe(`multinic-agent:${VERSION}`);
      const archive = save.argv[2]!;

      const copies = result.calls.filter((c) => c.tool === 'scp');
      expect(copies.map((c) => c.argv.slice(-2))).toEqual(
        ['10.0.0.1', '10.0.0.2', '10.0.0.3'].map((ip) => [
          archive,
          `root@${ip}:/tmp/multinic-agent-image.tar`,
        ]),
      );
      const imports = result.calls.filter((c) => c.tool === 'ssh');
      expect(imports.map((c) => c.argv.at(-2))).toEqual(['root@10.0.0.1', 'root@10.0.0.2', 'root@10.0.0.3']);
      for (const call of imports)
        expect(call.argv.at(-1)).toMatch(/^ctr -n k8s\.io images import \/tmp\/multinic-agent-image\.tar\b/);

      // Every ssh and scp ran under `sshpass -e`, which had the password in its environment.
      const wrappers = result.calls.filter((c) => c.tool === 'sshpass');
      expect(wrappers).toHaveLength(copies.length + imports.length);
      for (const w of wrappers) {
        expect(w.argv[0]).toBe('-e');
        expect(w.sshpass).toBe(PASSWORD);
      }
      const lastShip = Math.max(...result.calls.map((c, i) => (c.tool === 'ssh' ? i : -1)));
      expect(lastShip).toBeLessThan(indexOf(result, 'helm', 'upgrade'));
      // The archive is a temporary file, removed at exit.
      expect(existsSync(archive)).toBe(false);
    });

    it('never puts the password on a command line', () => {
      const result = deploy({ env });
      expect(result.code).toBe(0);
      expect(result.calls.length).toBeGreaterThan(5);
      for (const call of result.calls) expect(call.argv.join(' '), call.tool).not.toContain(PASSWORD);
      expect(result.stderr).not.toContain(PASSWORD);
    });

    it('uses sudo on the nodes for a user other than root', () => {
      const result = deploy({ env: { ...env, SSH_USER: 'ubuntu' } });
      expect(result.code).toBe(0);
      const imports = result.calls.filter((c) => c.tool === 'ssh');
      expect(imports[0]?.argv.at(-2)).toBe('ubuntu@10.0.0.1');
      expect(imports[0]?.argv.at(-1)).toMatch(/^sudo -n ctr -n k8s\.io images import /);
    });

    it('stops, naming the node, when a node cannot be reached, and installs nothing', () => {
      const result = deploy({ env: { ...env, FAKE_SSH_FAIL_ON: 'root@10.0.0.2' } });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/10\.0\.0\.2/);
      expect(only(result, 'helm', 'upgrade')).toEqual([]);
      expect(result.calls.filter((c) => c.tool === 'ssh').map((c) => c.argv.at(-2))).not.toContain(
        'root@10.0.0.3',
      );
    });

    it('stops when the cluster lists no node addresses', () => {
      const result = deploy({ env: { SSH_PASSWORD: PASSWORD, FAKE_NODES: '' } });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/no InternalIP addresses/);
      expect(only(result, 'helm', 'upgrade')).toEqual([]);
    });

    it('stops when kubectl cannot reach the cluster', () => {
      const result = deploy({ env: { ...env, FAKE_KUBECTL_RC: '1' } });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/kubectl get nodes failed/);
      expect(result.calls.filter((c) => c.tool === 'scp')).toEqual([]);
    });
  });

  it('fails when the build fails, before shipping or installing', () => {
    const result = deploy({ env: { SSH_PASSWORD: PASSWORD, FAKE_NODES: '10.0.0.1\\n', FAKE_BUILD_RC: '1' } });
    expect(result.code).not.toBe(0);
    expect(result.calls.filter((c) => c.tool !== 'docker')).toEqual([]);
  });

  it('fails when helm fails (e.g. the agents do not become ready in time)', () => {
    const result = deploy({ env: { FAKE_HELM_RC: '1' } });
    expect(result.code).toBe(1);
    expect(result.stderr).not.toMatch(/done/);
  });
});
