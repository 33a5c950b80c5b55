/**
 * How much each figure does: the full run (`npm run bench`, a few minutes) or BENCH_QUICK=1 (under a
 * minute, to check the bench works). Quick numbers are indicative only.
 */
export const QUICK = process.env['BENCH_QUICK'] === '1';

export const SCALE = QUICK
  ? {
      cycles: 200,
      memorySampleAt: 50,
      startRuns: 2,
      sandboxRuns: 1,
      sandboxPollMs: 3_000,
      daemonSeconds: 15,
      queryNodes: 5_000,
      querySamples: 200,
      querySamplesNoIndex: 50,
      fleetAgents: 500,
      fleetIntervalMs: 3_000,
      fleetDurationMs: 12_000,
      soakCycles: 1_000,
      soakChangeEvery: 100,
      soakSampleEvery: 100,
    }
  : {
      cycles: 1_000,
      memorySampleAt: 100,
      startRuns: 5,
      sandboxRuns: 3,
      sandboxPollMs: 10_000,
      daemonSeconds: 100,
      queryNodes: 5_000,
      querySamples: 1_000,
      querySamplesNoIndex: 200,
      fleetAgents: 5_000,
      fleetIntervalMs: 30_000,
      fleetDurationMs: 120_000,
      soakCycles: 10_000,
      soakChangeEvery: 100,
      soakSampleEvery: 1_000,
    };
