/**
 * `npm run bench`: every figure of issue 8, each printed next to its target with PASS / MISS (or SKIP with
 * the reason, INFO for figures that are only reported). Each figure runs in a child process of its own,
 * bounded in time. BENCH_QUICK=1 runs a scaled-down version (under a minute) to check that it works.
 */
import { fork } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { formatFigure, line, type FigureResult, type Verdict } from './support/report.js';
import { entrypoint } from '../test/support/entrypoint.js';
import { OUT_ROOT, REPO } from './support/paths.js';
import { QUICK } from './support/scale.js';
// Also load-bearing: importing package.json makes tsc copy it to the output root, and its "type": "module"
// is what makes Node load the compiled files there (under node_modules, outside this package) as ES modules.
import pkg from '../package.json' with { type: 'json' };

const here = dirname(fileURLToPath(import.meta.url));

interface Step {
  module: string;
  ids: string[];
  /** Extra node options and environment of the child (a comparison run). */
  execArgv?: string[];
  env?: Record<string, string>;
  title: string;
  timeoutMs: number;
}

const steps: Step[] = [
  { module: 'cycle', ids: ['1', '2', '3'], title: 'steady-state cycle', timeoutMs: 120_000 },
  {
    module: 'cycle',
    ids: ['3b'],
    title: 'figure 3 with a small young generation',
    timeoutMs: 120_000,
    execArgv: ['--max-semi-space-size=1'],
    env: { BENCH_VARIANT: 'small-young-generation' },
  },
  { module: 'startup', ids: ['4'], title: 'start to first cycle', timeoutMs: 60_000 },
  { module: 'sandbox', ids: ['5', '3c'], title: '10 new NICs in the sandbox', timeoutMs: 240_000 },
  { module: 'query', ids: ['6'], title: 'per-node query at 50,000 rows', timeoutMs: 120_000 },
  { module: 'fleet', ids: ['7'], title: '5,000 simulated agents', timeoutMs: 240_000 },
  {
    module: 'fleet',
    ids: ['7b'],
    title: 'figure 7 with connections kept open',
    timeoutMs: 240_000,
    env: { BENCH_VARIANT: 'keep-connection' },
  },
  { module: 'recovery', ids: ['7c'], title: 'a database outage under 5,000 agents', timeoutMs: 240_000 },
  { module: 'soak', ids: ['8'], title: 'soak', timeoutMs: 300_000 },
  {
    module: 'soak',
    ids: ['8b'],
    title: "soak under the image's flags",
    timeoutMs: 600_000,
    execArgv: entrypoint(REPO).flags,
    env: { BENCH_VARIANT: 'image-flags' },
  },
  {
    module: 'daemon',
    ids: ['9'],
    title: 'the daemon from outside, this build and the baseline',
    timeoutMs: 720_000,
  },
];

/**
 * The compiled test harness finds its scripts and the shipped SQL next to itself (import.meta.url):
 * link them into the build output so that it runs from there unchanged.
 */
function linkAssets(): void {
  const sandbox = readdirSync(join(REPO, 'test', 'sandbox')).filter((name) => !/\.(ts|md)$/.test(name));
  for (const rel of ['sql', ...sandbox.map((name) => `test/sandbox/${name}`)]) {
    const target = join(REPO, rel);
    const link = join(OUT_ROOT, rel);
    if (!existsSync(target)) continue;
    mkdirSync(dirname(link), { recursive: true });
    if (isLink(link)) rmSync(link);
    symlinkSync(target, link);
  }
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

function runStep(step: Step): Promise<FigureResult[]> {
  return new Promise((resolve, reject) => {
    const child = fork(join(here, 'child.js'), [step.module], {
      execArgv: ['--expose-gc', ...(step.execArgv ?? [])],
      env: { ...process.env, ...step.env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let results: FigureResult[] | undefined;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`did not finish within ${step.timeoutMs / 1000} s`));
    }, step.timeoutMs);
    child.on('message', (message) => (results = message as FigureResult[]));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (results !== undefined) resolve(results);
      else reject(new Error(`child exited ${code ?? signal ?? '?'} without results`));
    });
  });
}

function failed(step: Step, error: unknown): FigureResult[] {
  const reason = error instanceof Error ? error.message : String(error);
  return step.ids.map((id) => ({
    id,
    title: step.title,
    lines: [line('error', reason, '', false)],
    notes: [],
  }));
}

async function main(): Promise<number> {
  linkAssets();
  const started = performance.now();
  const only = process.env['BENCH_ONLY']?.split(',');
  console.log(
    `multinic-agent ${pkg.version} bench${QUICK ? ' (BENCH_QUICK=1: scaled down, indicative only)' : ''}` +
      ` — node ${process.version}, ${cpus().length} CPUs, ${(totalmem() / 2 ** 30).toFixed(0)} GB,` +
      ` ${new Date().toISOString()}\n`,
  );
  const verdicts: Verdict[] = [];
  let crashed = false;
  for (const step of steps) {
    if (only !== undefined && !only.includes(step.module)) continue;
    const stepStart = performance.now();
    const loadBefore = loadavg()[0] ?? 0;
    let results: FigureResult[];
    try {
      results = await runStep(step);
    } catch (error) {
      crashed = true;
      results = failed(step, error);
    }
    const secs = (performance.now() - stepStart) / 1000;
    const load = `load average ${loadBefore.toFixed(1)} → ${(loadavg()[0] ?? 0).toFixed(1)}`;
    for (const result of results) {
      console.log(formatFigure(result, secs / results.length, load) + '\n');
      verdicts.push(...result.lines.map((l) => l.verdict));
    }
  }
  const tally = (v: Verdict) => verdicts.filter((x) => x === v).length;
  console.log(
    `summary: ${tally('PASS')} PASS, ${tally('MISS')} MISS, ${tally('SKIP')} SKIP, ${tally('INFO')} INFO` +
      ` — ${((performance.now() - started) / 1000).toFixed(0)} s in all`,
  );
  return crashed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
