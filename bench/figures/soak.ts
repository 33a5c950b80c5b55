/**
 * Figure 8: the soak. Many steady cycles with a change every 100 cycles (a row's MTU or address edited in
 * the database, so the agent validates with the real `netplan generate`, backs up, writes, applies through
 * the fake network, verifies and pings the store), on the same parts as figures 1–3. RSS is sampled after
 * a forced GC; the process's active resources (sockets, timers, handles) are counted by type at the start
 * and at the end.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RowDataPacket } from 'mysql2/promise';
import type { Harness } from '../../test/support/agent-harness.js';
import { createTestDatabase, type TestDatabase } from '../../test/support/mariadb.js';
import { settledMemory } from '../support/gc.js';
import { info, line, type FigureResult } from '../support/report.js';
import { SCALE } from '../support/scale.js';
import { MB, count, max, median, min, ms } from '../support/stats.js';
import { convergedHarness, measuredTick } from './cycle.js';

/** Active resources by type, once the requests in flight (a closing file, a socket write) have settled. */
async function resources(): Promise<Map<string, number>> {
  await sleep(200);
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

function describeResources(counts: Map<string, number>): string {
  const parts = [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([type, n]) => `${type}×${n}`);
  return parts.length === 0 ? 'none' : parts.join(' ');
}

function same(a: Map<string, number>, b: Map<string, number>): boolean {
  return a.size === b.size && [...a].every(([type, n]) => b.get(type) === n);
}

/**
 * The k-th change edits row k mod 10, in turn: MTU 1500 → 1450, address .10 → .11, MTU back, address back;
 * so every change is a real drift and the table returns to where it started every 40 changes.
 */
async function change(db: TestDatabase, ids: readonly number[], k: number): Promise<void> {
  const n = k % ids.length;
  const id = ids[n];
  const [column, value] = (
    [
      ['mtu', 1450],
      ['address', `10.0.${n}.11`],
      ['mtu', 1500],
      ['address', `10.0.${n}.10`],
    ] as const
  )[Math.floor(k / ids.length) % 4] ?? ['mtu', 1500];
  await db.admin.query(`UPDATE multi_interface SET ${column} = ? WHERE id = ?`, [value, id]);
}

interface Sample {
  cycle: number;
  rss: number;
  heap: number;
}

export async function run(): Promise<FigureResult> {
  const db = await createTestDatabase('bench_soak');
  let h: Harness | undefined;
  try {
    h = await convergedHarness(db);
    const [rows] = await db.admin.query<RowDataPacket[]>('SELECT id FROM multi_interface ORDER BY id');
    const ids = rows.map((r) => Number(r['id']));
    for (let i = 0; i < 20; i += 1) await measuredTick(h);
    const before = await resources();
    const samples: Sample[] = [sample(h, 0)];
    const changeMs: number[] = [];
    let changes = 0;
    let configured = 0;
    for (let cycle = 1; cycle <= SCALE.soakCycles; cycle += 1) {
      const changing = cycle % SCALE.soakChangeEvery === 0;
      if (changing) await change(db, ids, changes);
      const start = performance.now();
      const logged = h.logs.length;
      await measuredTick(h);
      if (changing) {
        changes += 1;
        changeMs.push(performance.now() - start);
        configured += h.logs.slice(logged).filter((l) => l.msg === 'interface configured').length;
      }
      if (cycle % SCALE.soakSampleEvery === 0) samples.push(sample(h, cycle));
    }
    const after = await resources();
    return report(samples, before, after, {
      changes,
      configured,
      changeMs,
      applies: h.net.count('netplan', 'apply'),
    });
  } finally {
    await h?.close();
    await db.drop();
  }
}

/**
 * Memory after a forced GC. The harness's own records (log lines, commands seen) are emptied first: they
 * belong to the test fixture, not to the agent.
 */
function sample(h: Harness, cycle: number): Sample {
  h.logs.length = 0;
  const mem = settledMemory();
  return { cycle, rss: mem.rss, heap: mem.heapUsed };
}

interface Activity {
  changes: number;
  configured: number;
  changeMs: number[];
  applies: number;
}

function report(
  samples: Sample[],
  before: Map<string, number>,
  after: Map<string, number>,
  activity: Activity,
): FigureResult {
  const steady = samples.slice(1); // from the first sample after the start on
  const rss = steady.map((s) => s.rss);
  const first = steady[0];
  const last = steady.at(-1);
  if (first === undefined || last === undefined) throw new Error('no samples');
  const growth = last.rss - first.rss;
  const spread = max(rss) - min(rss);
  // The floor of each half rather than the two end samples: RSS after a GC steps up and down by 10-15 MB
  // from sample to sample (the allocator keeps or returns pages, more so since a connection is opened and
  // closed every cycle), so the ends alone say little. A leak raises the floor; the steps do not.
  const half = Math.ceil(rss.length / 2);
  const floorGrowth = min(rss.slice(half)) - min(rss.slice(0, half));

  const imageFlags = process.env['BENCH_VARIANT'] === 'image-flags';
  return {
    id: imageFlags ? '8b' : '8',
    title: `${imageFlags ? `soak under the image's flags (${process.execArgv.filter((a) => a !== '--expose-gc').join(' ')})` : 'soak'}: ${count(last.cycle)} cycles, a change every ${SCALE.soakChangeEvery} (fake network, real MariaDB and HostFs)`,
    lines: [
      line(
        `RSS floor, second half of the samples − first half`,
        `${(floorGrowth / MB).toFixed(2)} MB`,
        '≤ 5 MB (flat)',
        floorGrowth <= 5 * MB,
      ),
      info('RSS last sample − first sample', `${(growth / MB).toFixed(2)} MB`),
      info('RSS spread over those samples (max − min)', `${(spread / MB).toFixed(2)} MB`),
      info(
        `heap used, cycle ${count(first.cycle)} → ${count(last.cycle)}`,
        `${(first.heap / MB).toFixed(1)} → ${(last.heap / MB).toFixed(1)} MB`,
      ),
      line('active resources, start', describeResources(before), 'same at end', same(before, after)),
      info('active resources, end', describeResources(after)),
      info(
        'changes: made / configured / netplan apply',
        `${activity.changes} / ${activity.configured} / ${activity.applies - 1}`,
      ),
      info('change cycle wall time, median', ms(median(activity.changeMs), 1)),
    ],
    notes: [
      `RSS after a forced GC every ${count(SCALE.soakSampleEvery)} cycles (MB): ` +
        samples.map((s) => `${count(s.cycle)}: ${(s.rss / MB).toFixed(1)}`).join(', '),
      'resources by type from process.getActiveResourcesInfo(), taken after 20 warm-up cycles and after' +
        ' the last cycle (the store closes its connection at the end of every cycle, as in production)',
      'the first apply (setting up the 10 NICs) is not counted among the changes',
    ],
  };
}
