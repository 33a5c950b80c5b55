/**
 * The Dockerfile and .dockerignore, without a Docker engine: linted by dockerfile-utils (the validator
 * behind VS Code's Dockerfile support), parsed by dockerfile-ast for the properties the image must have,
 * and the runtime stage's contents rebuilt by hand (production packages only) to show the agent starts.
 */
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import type { Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from './support/helm.js';

const DOCKERFILE = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const DOCKERIGNORE = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8');
const PACKAGE = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
};

interface Stage {
  image: string;
  name: string | null;
  platform: string | null;
  instructions: Instruction[];
}

/** The stages in order, each FROM's image with the global ARG defaults substituted. */
function stages(text: string): Stage[] {
  const dockerfile = DockerfileParser.parse(text);
  const args = new Map<string, string>();
  for (const arg of dockerfile.getInitialARGs()) {
    const property = arg.getProperty();
    if (property !== null) args.set(property.getName(), property.getValue() ?? '');
  }
  const expand = (value: string) =>
    value.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_m, name: string) => args.get(name) ?? '');
  const result: Stage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const from = dockerfile
        .getFROMs()
        .find((f) => f.getRange().start.line === instruction.getRange().start.line)!;
      const platform =
        from
          .getFlags()
          .find((f) => f.getName() === 'platform')
          ?.getValue() ?? null;
      result.push({
        image: expand(from.getImage() ?? ''),
        name: from.getBuildStage(),
        platform,
        instructions: [],
      });
    } else {
      result.at(-1)?.instructions.push(instruction);
    }
  }
  return result;
}

/** An instruction's text after its keyword, flags included, continuation lines joined. */
function text(instruction: Instruction): string {
  return instruction
    .getTextContent()
    .replace(/\\\n/g, ' ')
    .replace(/^\s*[A-Za-z]+\s+/, '')
    .replace(/\s+/g, ' ')
    .trim();
}

function runs(stage: Stage): string[] {
  return stage.instructions.filter((i) => i.getKeyword() === 'RUN').map((i) => i.getArgumentsContent() ?? '');
}

/** Packages `apt-get install` is asked for, across the stage's RUN instructions. */
function aptPackages(stage: Stage): string[] {
  return runs(stage).flatMap((command) =>
    command
      .split(/&&|;/)
      .map((part) => part.trim().split(/\s+/))
      .filter((words) => words[0] === 'apt-get' && words.includes('install'))
      .flatMap((words) => words.slice(words.indexOf('install') + 1).filter((w) => !w.startsWith('-'))),
  );
}

// Diagnostics carry plain text or markup; both read the same here.
function message(text: string | { value: string }): string {
  return typeof text === 'string' ? text : text.value;
}

const ALL = stages(DOCKERFILE);
const FINAL = ALL.at(-1)!;

describe('Dockerfile', () => {
  it('passes the linter with no diagnostics at all', () => {
    const problems = validate(DOCKERFILE).map((d) => `line ${d.range.start.line + 1}: ${message(d.message)}`);
    expect(problems).toEqual([]);
  });

  it.each([
    ['a misspelt instruction', 'WORKDIR /app', 'WORKDIRR /app', /Unknown instruction/],
    ['single quotes in an exec form', 'CMD ["run"]', "CMD ['run']", /single quotes/],
    ['a second ENTRYPOINT', 'CMD ["run"]', 'ENTRYPOINT ["sh"]\nCMD ["run"]', /only be one ENTRYPOINT/],
    ['a duplicated stage name', 'FROM ${NODE_IMAGE}\n', 'FROM ${NODE_IMAGE} AS build\n', /duplicate name/],
  ])('the linter reports %s', (_label, from, to, expected) => {
    const broken = DOCKERFILE.replace(from, to);
    expect(broken).not.toBe(DOCKERFILE);
    expect(
      validate(broken)
        .map((d) => message(d.message))
        .join('\n'),
    ).toMatch(expected);
  });

  it('is multi-stage: a build stage on the build platform, then a runtime stage', () => {
    expect(ALL.length).toBeGreaterThanOrEqual(2);
    const build = ALL[0]!;
    expect(build.name).toBe('build');
    // buildx compiles once, natively, and only the runtime stage runs per target platform.
    expect(build.platform).toBe('$BUILDPLATFORM');
    expect(FINAL.platform).toBeNull();
  });

  it('uses a Node LTS slim image pinned by tag in every stage', () => {
    for (const stage of ALL) {
      const match = /^node:(\d+)(\.\d+){0,2}-(bookworm|trixie)-slim$/.exec(stage.image);
      expect(match, stage.image).not.toBeNull();
      const major = Number(match![1]);
      // Even majors are the long-term-support lines; the agent supports Node 20 and later.
      expect(major % 2).toBe(0);
      expect(major).toBeGreaterThanOrEqual(20);
    }
  });

  it('installs production dependencies only, from the lockfile, in the runtime stage', () => {
    const installs = runs(FINAL).filter((r) => /\bnpm\b/.test(r));
    expect(installs.some((r) => /\bnpm ci\b.*--omit=dev/.test(r))).toBe(true);
    expect(installs.some((r) => /\bnpm (install|i)\b/.test(r))).toBe(false);
    const copies = FINAL.instructions.filter((i) => i.getKeyword() === 'COPY').map(text);
    expect(copies).toContain('--from=build /src/dist ./dist');
    // From the build context only the manifests npm ci needs: no src/, no node_modules.
    const fromContext = copies.filter((c) => !c.startsWith('--')).flatMap((c) => c.split(' ').slice(0, -1));
    expect(fromContext.sort()).toEqual(['package-lock.json', 'package.json']);
  });

  it('has nsenter (util-linux) and ip (iproute2), and no build tools, in the runtime stage', () => {
    const packages = aptPackages(FINAL);
    expect(packages).toEqual(expect.arrayContaining(['util-linux', 'iproute2']));
    for (const tool of ['build-essential', 'gcc', 'g++', 'make', 'python3', 'git'])
      expect(packages, tool).not.toContain(tool);
    const apt = runs(FINAL).find((r) => r.includes('apt-get install'))!;
    expect(apt).toMatch(/--no-install-recommends/);
    expect(apt).toMatch(/rm -rf \/var\/lib\/apt\/lists/);
  });

  it('starts the agent: ENTRYPOINT runs the bundle with the measured flags, CMD is the daemon', () => {
    const exec = (keyword: string) => {
      const found = FINAL.instructions.filter((i) => i.getKeyword() === keyword);
      expect(found).toHaveLength(1);
      return JSON.parse(found[0]!.getArgumentsContent() ?? '') as string[];
    };
    expect(exec('ENTRYPOINT')).toEqual([
      'node',
      '--max-semi-space-size=1',
      '--jitless',
      '--no-expose-wasm',
      '--v8-pool-size=1',
      '--single-threaded-gc',
      '/app/dist/bundle/cli.mjs',
    ]);
    expect(exec('CMD')).toEqual(['run']);
  });

  it('sends only what it copies to the build context (.dockerignore)', () => {
    const lines = DOCKERIGNORE.split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(lines[0]).toBe('*');
    const allowed = lines.slice(1).map((l) => l.replace(/^!/, '').replace(/\/$/, ''));
    const fromContext = ALL.flatMap((s) => s.instructions)
      .filter((i) => i.getKeyword() === 'COPY' && !text(i).includes('--from='))
      .flatMap((i) => {
        const args = i.getArguments().map((a) => a.getValue());
        return args.slice(0, -1);
      });
    expect(fromContext.length).toBeGreaterThan(0);
    for (const source of fromContext) expect(allowed, source).toContain(source.replace(/\/$/, ''));
    for (const kept of ['node_modules', 'dist', '.git', 'test']) expect(allowed).not.toContain(kept);
  });

  it("defaults to the chart's appVersion, which is package.json's version", () => {
    const chart = parse(readFileSync(join(REPO_ROOT, 'deployments', 'helm', 'Chart.yaml'), 'utf8')) as {
      appVersion: string;
    };
    expect(chart.appVersion).toBe(PACKAGE.version);
  });
});

describe('the runtime stage rebuilt by hand: production packages only', () => {
  let app: string;

  beforeAll(() => {
    app = mkdtempSync(join(tmpdir(), 'multinic-image-'));
    writeFileSync(join(app, 'package.json'), JSON.stringify(PACKAGE));
    copyProductionPackages(app);
    transpile(join(REPO_ROOT, 'src'), join(app, 'dist'));
  }, 30_000);

  afterAll(() => {
    if (app) rmSync(app, { recursive: true, force: true });
  });

  it('no production package needs an install script (the image runs npm ci --ignore-scripts)', () => {
    expect(productionPackages().filter(([, meta]) => meta.hasInstallScript === true)).toEqual([]);
  });

  it('the agent loads every module it imports, reports its version, and checks its settings', () => {
    const cli = join(app, 'dist', 'cli.js');
    const version = spawnSync(process.execPath, [cli, '--version'], {
      encoding: 'utf8',
      timeout: 15_000,
      cwd: app,
    });
    expect(version.stderr).toBe('');
    expect(version.stdout.trim()).toBe(PACKAGE.version);
    // `run` imports the whole daemon; with no settings it must stop at validation (exit 2), not at a
    // missing module.
    const run = spawnSync(process.execPath, [cli, 'run'], {
      encoding: 'utf8',
      timeout: 15_000,
      cwd: app,
      env: { PATH: process.env.PATH },
    });
    expect(run.stderr).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (package|module)/);
    expect(run.stderr).toMatch(/no database configured/);
    expect(run.status).toBe(2);
  });
});

describe('the shipped entry point: the bundle, with the image flags, alone', () => {
  let app: string;

  beforeAll(() => {
    const bundle = join(REPO_ROOT, 'dist', 'bundle');
    if (!existsSync(join(bundle, 'cli.mjs'))) {
      throw new Error('dist/bundle/cli.mjs is missing: run `npm run build` first (npm test does)');
    }
    // No node_modules and no package.json anywhere above it: everything it needs must be inside.
    app = mkdtempSync(join(tmpdir(), 'multinic-bundle-'));
    cpSync(bundle, join(app, 'bundle'), { recursive: true });
  });

  afterAll(() => {
    if (app) rmSync(app, { recursive: true, force: true });
  });

  it('runs with the ENTRYPOINT flags, says nothing on stderr, and stops at the settings check', () => {
    const entry = JSON.parse(
      FINAL.instructions.find((i) => i.getKeyword() === 'ENTRYPOINT')!.getArgumentsContent() ?? '',
    ) as string[];
    const flags = entry.slice(1, -1);
    const cli = join(app, 'bundle', 'cli.mjs');
    const version = spawnSync(process.execPath, [...flags, cli, '--version'], { encoding: 'utf8', cwd: app });
    expect(version.stderr).toBe('');
    expect(version.stdout.trim()).toBe(PACKAGE.version);
    const run = spawnSync(process.execPath, [...flags, cli, 'run'], {
      encoding: 'utf8',
      timeout: 15_000,
      cwd: app,
      env: { PATH: process.env.PATH },
    });
    expect(run.stderr).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (package|module)|Dynamic require/);
    expect(run.stderr).toMatch(/no database configured/);
    expect(run.status).toBe(2);
    const metrics = spawnSync(process.execPath, [...flags, cli, 'metrics'], { encoding: 'utf8', cwd: app });
    expect(metrics.status).toBe(0);
    expect(metrics.stdout).toMatch(/^multinic_polling_cycles_total\tcounter/m);
  });
});

interface LockEntry {
  dev?: boolean;
  hasInstallScript?: boolean;
}

function productionPackages(): [string, LockEntry][] {
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  return Object.entries(lock.packages).filter(([path, meta]) => path !== '' && meta.dev !== true);
}

// What `npm ci --omit=dev` installs: the lockfile's entries not marked dev. Copied, not linked, so that
// Node cannot resolve a dev package through a symlink's real path.
function copyProductionPackages(app: string): void {
  for (const [path] of productionPackages()) {
    if (path.split('node_modules/').length > 2) continue; // nested: copied with its parent
    const target = join(app, path);
    mkdirSync(dirname(target), { recursive: true });
    cpSync(join(REPO_ROOT, path), target, { recursive: true, dereference: true });
  }
}

// The build stage's output without the type check (tsc runs in CI already): one module per source file.
function transpile(from: string, to: string): void {
  for (const entry of readdirSync(from, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const source = join(entry.parentPath, entry.name);
    const output = ts.transpileModule(readFileSync(source, 'utf8'), {
      fileName: source,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
      },
    });
    const target = join(to, relative(from, source)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, output.outputText);
  }
}
