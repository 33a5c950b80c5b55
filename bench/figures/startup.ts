/**
 * Figure 4: start to first cycle completed. The shipped CLI (`node dist/cli.js once`) against a scratch
 * database on 127.0.0.1:3306 whose rows name MACs absent from this machine, so the agent only waits and
 * changes nothing: a temp HOST_ROOT, COMMAND_PREFIX='', PROC_NET_ROUTE in the temp root, and `netplan`/`ip`
 * stand-ins first on PATH that would record any call (there must be none).
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { agentEnv, makeHostRoot } from '../../test/support/agent-harness.js';
import { createTestDatabase } from '../../test/support/mariadb.js';
import { DIST_CLI } from '../support/paths.js';
import { info, line, skip, type FigureResult } from '../support/report.js';
import { SCALE } from '../support/scale.js';
import { median, ms, seconds } from '../support/stats.js';

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
  wallMs: number;
}

function timed(argv: string[], env: NodeJS.ProcessEnv): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      const wallMs = performance.now() - start;
      child.once('close', () => resolve({ code, stdout, stderr, wallMs }));
    });
  });
}

/** MACs of this machine's interfaces, so the rows can name others. */
function localMacs(): Set<string> {
  const macs = new Set<string>();
  for (const name of readdirSync('/sys/class/net')) {
    try {
      macs.add(readFileSync(`/sys/class/net/${name}/address`, 'utf8').trim().toLowerCase());
    } catch {
      // a link that went away meanwhile
    }
  }
  return macs;
}

function standIns(dir: string, log: string): void {
  for (const tool of ['netplan', 'ip', 'nsenter']) {
    const file = join(dir, tool);
    writeFileSync(file, `#!/bin/sh\necho "${tool} $*" >> '${log}'\nexit 99\n`);
    chmodSync(file, 0o755);
  }
}

export async function run(): Promise<FigureResult> {
  const title = 'start to first cycle completed: `node dist/cli.js once`, spawn to exit';
  if (!existsSync(DIST_CLI)) {
    return {
      id: '4',
      title,
      lines: [skip('start to exit', `${DIST_CLI} absent: run npm run build`)],
      notes: [],
    };
  }
  const db = await createTestDatabase('bench_start');
  const hostRoot = makeHostRoot();
  const bin = mkdtempSync(join(tmpdir(), 'multinic-bench-bin-'));
  const callLog = join(bin, 'calls.log');
  try {
    standIns(bin, callLog);
    const present = localMacs();
    for (let n = 0; n < 10; n += 1) {
      const mac = `fa:16:3e:be:0c:${n.toString(16).padStart(2, '0')}`;
      if (present.has(mac)) throw new Error(`MAC ${mac} is present on this machine`);
      await db.insertRow({ macaddress: mac, address: `10.9.${n}.10`, cidr: `10.9.${n}.0/24` });
    }
    const env: NodeJS.ProcessEnv = {
      PATH: `${bin}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
      ...agentEnv(db, hostRoot),
      LOG_LEVEL: 'info',
    };
    await timed(['-e', '0'], env); // page cache warm for both
    const bare: number[] = [];
    for (let i = 0; i < SCALE.startRuns; i += 1) bare.push((await timed(['-e', '0'], env)).wallMs);
    const warm = await timed([DIST_CLI, 'once'], env);
    checkRun(warm);
    const runs: number[] = [];
    for (let i = 0; i < SCALE.startRuns; i += 1) {
      const exit = await timed([DIST_CLI, 'once'], env);
      checkRun(exit);
      runs.push(exit.wallMs);
    }
    const calls = existsSync(callLog) ? readFileSync(callLog, 'utf8').trim() : '';
    const m = median(runs);
    return {
      id: '4',
      title,
      lines: [
        line(`start to exit, median of ${runs.length}`, seconds(m), '≤ 1 s', m <= 1000),
        info('runs', runs.map((r) => ms(r, 0)).join(', ')),
        info('of which bare `node -e 0`, median', ms(median(bare), 0)),
        line('host commands run (netplan, ip, nsenter)', calls === '' ? '0' : calls, '0', calls === ''),
      ],
      notes: [
        '10 rows for this node whose MACs are absent here: the cycle reads the database, the host root and' +
          ' /sys/class/net, logs each row as waiting, and exits 0; one untimed run first (page cache)',
      ],
    };
  } finally {
    rmSync(bin, { recursive: true, force: true });
    rmSync(hostRoot, { recursive: true, force: true });
    await db.drop();
  }
}

function checkRun(exit: Exit): void {
  const waiting = exit.stdout.split('\n').filter((l) => l.includes('"state":"waiting"')).length;
  if (exit.code !== 0 || waiting !== 10) {
    throw new Error(`once: exit ${exit.code}, ${waiting} waiting rows\n${exit.stdout}\n${exit.stderr}`);
  }
}
