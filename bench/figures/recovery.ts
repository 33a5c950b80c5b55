/**
 * Figure 7c: the fleet of figure 7 (5,000 agents, the real store and loop, a connection per poll) through a
 * database outage: the server is stopped for 30 s and started again on its data. What a recovering server
 * must not see is a reconnect storm: the connection rate in the 30 s after its return, against the steady
 * rate before the outage (each poll is one connection). The agents retry an unreachable database at their
 * poll interval with ±10% jitter (the daemon's loop), so the rate stays the steady one.
 */
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { abortableSleep } from '../../src/agent/loop.js';
import type { DesiredStore } from '../../src/store/mysql.js';
import { info, line, type FigureResult } from '../support/report.js';
import { SCALE } from '../support/scale.js';
import { count } from '../support/stats.js';
import { startThrowawayServer } from '../support/throwaway-server.js';
import { agent, prepare, serverOptions, storeFor, type Poll } from './fleet.js';

const OUTAGE_MS = 30_000;
const BUCKET_MS = 5_000;

/** Connections (polls) per second in each 5 s bucket of [from, to). */
function rates(polls: readonly Poll[], from: number, to: number): number[] {
  const buckets: number[] = [];
  for (let start = from; start + BUCKET_MS <= to; start += BUCKET_MS) {
    const n = polls.filter((p) => p.at >= start && p.at < start + BUCKET_MS).length;
    buckets.push(n / (BUCKET_MS / 1000));
  }
  return buckets;
}

export async function run(): Promise<FigureResult> {
  const agents = SCALE.fleetAgents;
  const interval = SCALE.fleetIntervalMs;
  const server = await startThrowawayServer(serverOptions(agents));
  const stores: DesiredStore[] = [];
  const never = new AbortController().signal;
  try {
    await prepare(server);
    for (let n = 0; n < agents; n += 1) stores.push(storeFor(server));
    const polls: Poll[] = [];
    const stop = new AbortController();
    setMaxListeners(agents + 10, stop.signal);
    const t0 = performance.now();
    const loops = stores.map((store, n) => agent(n, store, polls, t0, stop.signal));
    // Ramp (every agent polled once), then a steady window of one interval.
    await abortableSleep(1.2 * interval, never);
    const steadyFrom = performance.now() - t0;
    await abortableSleep(interval, never);
    const downAt = performance.now() - t0;
    await server.stopServer();
    await abortableSleep(OUTAGE_MS, never);
    await server.startServer();
    const upAt = performance.now() - t0;
    await abortableSleep(interval + BUCKET_MS, never);
    const end = performance.now() - t0;
    stop.abort();
    await Promise.all(loops);

    const steady = rates(polls, steadyFrom, downAt);
    const steadyRate = steady.reduce((a, b) => a + b, 0) / Math.max(1, steady.length);
    const after = rates(polls, upAt, upAt + interval);
    const peak = Math.max(...after);
    const ratio = peak / Math.max(steadyRate, 1e-9);
    const firstOk = polls.filter((p) => p.ok && p.at >= upAt).map((p) => p.at - upAt);
    const recovered = polls.filter((p) => p.at >= upAt + interval && p.at < end).every((p) => p.ok);
    return {
      id: '7c',
      title: `${count(agents)} agents through a ${OUTAGE_MS / 1000} s database outage: connection rate after it returns`,
      lines: [
        info('steady connection rate (polls/s, 5 s buckets)', steadyRate.toFixed(1)),
        info('after the return, per 5 s bucket (polls/s)', after.map((r) => r.toFixed(0)).join(', ')),
        line('peak after the return ÷ steady rate', `${ratio.toFixed(2)}×`, '≤ 2×', ratio <= 2),
        info('first successful poll after the return', `${((firstOk[0] ?? NaN) / 1000).toFixed(2)} s`),
        line(
          'every agent polling successfully one interval after the return',
          recovered ? 'yes' : 'no',
          'yes',
          recovered,
        ),
      ],
      notes: [
        'each poll = connect + rowsForNode + idle() (figure 7); a poll while the server is down is a refused' +
          ' connect, retried at the poll interval ±10% (retryAtInterval, as the daemon does), so the agents' +
          ' stay spread over the interval and return at the rate they left',
        `outage: mariadbd stopped (SIGTERM) ${(downAt / 1000).toFixed(0)} s into the run and started again on` +
          ` its data ${OUTAGE_MS / 1000} s later; rates from the client's poll timestamps`,
      ],
    };
  } finally {
    await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
    await server.stop();
  }
}
