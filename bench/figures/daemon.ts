/**
 * Figure 9: what the node pays for the daemon, measured from outside as a node sees it, for this build and
 * a previous one side by side (BENCH_BASELINE, a git ref, default HEAD~1). Each daemon runs as the image
 * runs it (node, the flags and entry point of that tree's Dockerfile ENTRYPOINT, `run`) in a sandbox of its
 * own with 10 NICs in sync on real netplan + systemd-networkd and its own MariaDB; all windows run at once,
 * so both builds see the same machine. CPU is utime + stime from /proc/<pid>/stat over the window, memory
 * VmRSS/VmHWM from /proc/<pid>/status; start-up is process spawn to the daemon's `first cycle done` line
 * (the time its /metrics first counts a cycle, polled every 5 ms from inside the sandbox), on the converged node, one restart at a time.
 */
import { execFileSync, execSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { entrypoint } from '../../test/support/entrypoint.js';
import { REPO } from '../support/paths.js';
import { processCpuMs, statusField } from '../../test/support/proc.js';
import { info, line, skip, type FigureResult, type Line } from '../support/report.js';
import { innerPid } from '../../test/sandbox/agent.js';
import {
  insertRows,
  metricValue,
  sandboxUnsupported,
  scrape,
  until,
  verified,
  withNode,
} from '../support/sandbox-node.js';
import { QUICK } from '../support/scale.js';
import { MB, max, mb, median, ms } from '../support/stats.js';

const TARGET_CYCLE_MS = 3;
const TARGET_CORE_SHARE = 0.001;
const TARGET_RSS = 45 * MB;
const TARGET_PEAK = 50 * MB;
const TARGET_STARTUP_MS = 300;

const WINDOW_S = Number(process.env['BENCH_DAEMON_WINDOW_S'] ?? (QUICK ? 30 : 300));
const WARMUP_S = QUICK ? 5 : 30;
const STARTUPS = QUICK ? 2 : 5;

interface Build {
  name: string;
  root: string;
  /** node, the image's flags, the entry point (without the command). */
  argv: string[];
  /** The ENTRYPOINT as the Dockerfile writes it, for the report. */
  entrypoint: string;
}

/** The tree's Dockerfile ENTRYPOINT, run from the tree. */
function shippedBuild(name: string, root: string): Build {
  const { flags, entry, text } = entrypoint(root);
  return { name, root, argv: [process.execPath, ...flags, entry], entrypoint: text };
}

/** The baseline ref checked out (git archive) and built with its own `npm run build`, once per commit. */
function baselineBuild(): Build | string {
  const ref = process.env['BENCH_BASELINE'] ?? 'HEAD~1';
  let sha: string;
  try {
    sha = execFileSync('git', ['-C', REPO, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`], {
      encoding: 'utf8',
    }).trim();
  } catch {
    return `no commit ${ref} in ${REPO}`;
  }
  const root = join(tmpdir(), `multinic-bench-baseline-${sha.slice(0, 12)}`);
  if (!existsSync(join(root, '.built'))) {
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    execSync(`git -C '${REPO}' archive ${sha} | tar -x -C '${root}'`);
    // This checkout's packages: the baseline's own lock may pin others (reported in the notes).
    symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'));
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    writeFileSync(join(root, '.built'), `${sha}\n`);
  }
  return shippedBuild(`baseline ${ref} (${sha.slice(0, 7)})`, root);
}

function dependencies(root: string): string {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  return JSON.stringify(pkg.dependencies ?? {});
}

interface Startup {
  /** Spawn (this process's clock) to the daemon's `first cycle done` timestamp. */
  outsideMs: number;
  /** The daemon's own figure: performance.now() at that line (since its process started). */
  ownMs: number;
}

interface Measured {
  cycles: number;
  windowMs: number;
  cpuMs: number;
  /** process_cpu_seconds_total over the same window: the daemon's own account. */
  ownCpuMs: number;
  /** Mean wall time of a cycle, from the daemon's cycle-duration histogram. */
  cycleWallMs: number;
  rss: number[];
  /** At the end of the window: anonymous (heap, stacks) and file-backed (mostly the node binary's pages). */
  anon: number;
  file: number;
  peak: number;
  threads: number;
  startups: Startup[];
}

/**
 * Inside the sandbox: prints the time at which the daemon's /metrics first counts a cycle (polled every
 * 5 ms), so that builds which log no `first cycle done` line are timed the same way.
 */
const FIRST_CYCLE_WATCHER = `
const tick = () => fetch('http://127.0.0.1:8080/metrics').then((r) => r.text()).then((text) => {
  if (/^multinic_polling_cycles_total [1-9]/m.test(text)) { console.log(Date.now()); process.exit(0); }
  setTimeout(tick, 5);
}, () => setTimeout(tick, 5));
tick();
setTimeout(() => process.exit(1), 20000);
`;

// The start-up restarts run one at a time, after every window has ended.
let exclusive: Promise<unknown> = Promise.resolve();
function alone<T>(fn: () => Promise<T>): Promise<T> {
  const result = exclusive.then(fn);
  exclusive = result.catch(() => undefined);
  return result;
}

async function measure(argv: string[], pollMs: number, windowsDone: Promise<void>, startups: number) {
  return withNode({ argv, pollMs }, async ({ sb, db, start }): Promise<Measured> => {
    await insertRows(db);
    let daemon = await start();
    await until('all ten verified', 60_000, () => verified(db));
    await sleep(WARMUP_S * 1000);
    const pid = innerPid(daemon.proc);
    const before = await scrape(sb);
    const cpu0 = await processCpuMs(pid);
    const t0 = performance.now();
    const rss: number[] = [];
    const step = (WINDOW_S * 1000) / 30;
    while (performance.now() - t0 < WINDOW_S * 1000 - step / 2) {
      await sleep(step);
      rss.push(await statusField(pid, 'VmRSS'));
    }
    const cpu1 = await processCpuMs(pid);
    const windowMs = performance.now() - t0;
    const after = await scrape(sb);
    const peak = await statusField(pid, 'VmHWM');
    const anon = await statusField(pid, 'RssAnon');
    const file = await statusField(pid, 'RssFile');
    const threads = await statusField(pid, 'Threads');
    const delta = (name: string) => metricValue(after, name) - metricValue(before, name);
    const cycles = delta('multinic_polling_cycles_total');
    const measured: Measured = {
      cycles,
      windowMs,
      cpuMs: cpu1 - cpu0,
      ownCpuMs: delta('process_cpu_seconds_total') * 1000,
      cycleWallMs:
        (delta('multinic_polling_cycle_duration_seconds_sum') * 1000) /
        delta('multinic_polling_cycle_duration_seconds_count'),
      rss,
      anon,
      file,
      peak,
      threads,
      startups: [],
    };
    await windowsDone;
    if (startups === 0) return measured;
    await alone(async () => {
      for (let i = 0; i < startups; i += 1) {
        await daemon.stop();
        const watcher = sb.spawn([process.execPath, '-e', FIRST_CYCLE_WATCHER], { stdin: 'ignore' });
        await sleep(500);
        const spawnedAt = Date.now();
        daemon = await start();
        const { stdout, code } = await watcher.done;
        if (code !== 0) throw new Error('the daemon finished no cycle within 20 s of its start');
        const own = await until('first cycle done', 2_000, () =>
          daemon.logs.find((l) => l.msg === 'first cycle done'),
        ).catch(() => undefined);
        measured.startups.push({
          outsideMs: Number(stdout.trim()) - spawnedAt,
          ownMs: Number(own?.['startup_ms']),
        });
      }
    });
    return measured;
  });
}

const pct = (share: number) => `${(share * 100).toFixed(3)}%`;
const ratio = (a: number, b: number) => `×${(a / b).toFixed(2)}`;
const perCycle = (m: Measured) => m.cpuMs / m.cycles;
const share = (m: Measured) => m.cpuMs / m.windowMs;
const beside = (value: string, base: string, r: string) => `${value} (baseline ${base}, ${r})`;

/** Per-cycle work and idle cost per second, from the two intervals: cpu/s = idle + work × cycles/s. */
function split(fast: Measured, slow: Measured): { workMs: number; idleMsPerS: number } {
  const rate = (m: Measured) => m.cycles / (m.windowMs / 1000);
  const cpuRate = (m: Measured) => m.cpuMs / (m.windowMs / 1000);
  const workMs = (cpuRate(fast) - cpuRate(slow)) / (rate(fast) - rate(slow));
  return { workMs, idleMsPerS: cpuRate(fast) - workMs * rate(fast) };
}

export async function run(): Promise<FigureResult[]> {
  const title = 'the daemon as a node pays for it: CPU, memory, start-up (outside, /proc), with the baseline';
  const current = shippedBuild('this build', REPO);
  const cli = current.argv.at(-1) ?? '';
  const reason = sandboxUnsupported(cli);
  const baseline = reason === null ? baselineBuild() : reason;
  if (typeof baseline === 'string') {
    return [{ id: '9', title, lines: [skip('daemon', baseline)], notes: [] }];
  }
  let windowsEnded: () => void = () => undefined;
  const windowsDone = new Promise<void>((resolve) => (windowsEnded = resolve));
  const plainArgv = [process.execPath, join(REPO, 'dist', 'cli.js')];
  const runs = [
    measure(current.argv, 3_000, windowsDone, STARTUPS),
    measure(current.argv, 30_000, windowsDone, 0),
    measure(baseline.argv, 3_000, windowsDone, STARTUPS),
    measure(baseline.argv, 30_000, windowsDone, 0),
    measure(plainArgv, 3_000, windowsDone, 0),
  ];
  // Every window has ended once each run has taken its figures; only then do the restarts begin.
  void Promise.race([Promise.allSettled(runs), sleep((WARMUP_S + WINDOW_S + 90) * 1000)]).then(windowsEnded);
  const [fast, slow, baseFast, baseSlow, plain] = await Promise.all(runs);
  if (!fast || !slow || !baseFast || !baseSlow || !plain) throw new Error('a run returned nothing');

  const lines: Line[] = [];
  // A value of this build beside the baseline's and their ratio; a PASS/MISS line when it has a target.
  const compare = (
    label: string,
    format: (v: number) => string,
    value: number,
    base: number,
    limit?: number,
  ) => {
    const text = beside(format(value), format(base), ratio(value, base));
    lines.push(
      limit === undefined ? info(label, text) : line(label, text, `≤ ${format(limit)}`, value <= limit),
    );
  };
  const msText = (v: number) => ms(v);
  compare('CPU per cycle, POLL_INTERVAL=3s', msText, perCycle(fast), perCycle(baseFast), TARGET_CYCLE_MS);
  compare('CPU per cycle, POLL_INTERVAL=30s', msText, perCycle(slow), perCycle(baseSlow), TARGET_CYCLE_MS);
  compare('share of one core, POLL_INTERVAL=30s', pct, share(slow), share(baseSlow), TARGET_CORE_SHARE);
  compare('share of one core, POLL_INTERVAL=3s', pct, share(fast), share(baseFast));
  const parts = split(fast, slow);
  const baseParts = split(baseFast, baseSlow);
  lines.push(
    info(
      'of which: work per cycle / idle per second',
      `${ms(parts.workMs)} / ${ms(parts.idleMsPerS, 3)} (baseline ${ms(baseParts.workMs)} / ${ms(baseParts.idleMsPerS, 3)})`,
    ),
    info(
      'the daemon’s own account, 3s: CPU per cycle / wall per cycle',
      `${ms(fast.ownCpuMs / fast.cycles)} / ${ms(fast.cycleWallMs)} (process_cpu_seconds_total, cycle histogram)`,
    ),
  );
  const steady = (m: Measured) => median(m.rss);
  compare('RSS steady (median over the 3s window)', mb, steady(fast), steady(baseFast), TARGET_RSS);
  compare('RSS peak (VmHWM, from start)', mb, fast.peak, baseFast.peak, TARGET_PEAK);
  lines.push(
    info(
      'RSS at the end: anonymous / file-backed (the node binary, shared)',
      `${mb(fast.anon)} / ${mb(fast.file)} (baseline ${mb(baseFast.anon)} / ${mb(baseFast.file)})`,
    ),
    info(
      'RSS drift over the window (last third − first third, median)',
      `${drift(fast)} at 3s, ${drift(slow)} at 30s`,
    ),
    info(
      'plain `node dist/cli.js run`: RSS steady / peak',
      `${mb(steady(plain))} / ${mb(plain.peak)}; CPU ${ms(perCycle(plain))} per cycle at 3s`,
    ),
    info('threads', `${fast.threads} (baseline ${baseFast.threads})`),
  );
  const startup = median(fast.startups.map((s) => s.outsideMs));
  const baseStartup = median(baseFast.startups.map((s) => s.outsideMs));
  compare(
    `start → first cycle done, converged node, median of ${fast.startups.length}`,
    (v) => `${v.toFixed(0)} ms`,
    startup,
    baseStartup,
    TARGET_STARTUP_MS,
  );
  lines.push(
    info(
      'each start (spawn → line / the daemon’s own startup_ms)',
      fast.startups.map((s) => `${s.outsideMs.toFixed(0)}/${s.ownMs}`).join(', ') +
        (baseFast.startups.every((s) => Number.isFinite(s.ownMs)) ? '' : ' (baseline logs no startup_ms)'),
    ),
  );
  const notes = [
    `entry points: this build \`${current.entrypoint}\`, ${baseline.name} \`${baseline.entrypoint}\``,
    `window ${(fast.windowMs / 1000).toFixed(0)} s after a ${WARMUP_S} s warm-up on the converged node; cycles` +
      ` in the window: ${fast.cycles} at 3s, ${slow.cycles} at 30s (baseline ${baseFast.cycles}, ${baseSlow.cycles});` +
      ' CPU in clock ticks (10 ms), so a 30s window of a few cycles is coarse: the 5-minute default is not',
    'per cycle = (utime + stime over the window) / cycles run in it, idle time between cycles included: what' +
      ' a node pays per cycle. The split solves cpu/s = idle + work × cycles/s from the two intervals.',
    'a /metrics scrape (the bench’s own, to count cycles) falls just outside each end of the window',
  ];
  if (dependencies(baseline.root) !== dependencies(REPO)) {
    notes.push(
      `${baseline.name} declares other runtime dependencies; it ran with this checkout's node_modules`,
    );
  }
  return [{ id: '9', title, lines, notes }];
}

function drift(m: Measured): string {
  const third = Math.max(1, Math.floor(m.rss.length / 3));
  const d = median(m.rss.slice(-third)) - median(m.rss.slice(0, third));
  return `${d >= 0 ? '+' : ''}${(d / MB).toFixed(1)} MB (max ${mb(max(m.rss))})`;
}
