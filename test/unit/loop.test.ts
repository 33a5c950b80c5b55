import { describe, expect, it } from 'vitest';
import {
  nextBackoffLevel,
  nextDelayMs,
  runLoop,
  wakeableSleep,
  type LoopTiming,
} from '../../src/agent/loop.js';

const timing: LoopTiming = { intervalMs: 30_000, maxBackoffMs: 300_000, jitter: 0.1 };

describe('loop timing', () => {
  it('keeps the interval within ±10% jitter', () => {
    expect(nextDelayMs(0, timing, 0)).toBe(27_000);
    expect(nextDelayMs(0, timing, 0.5)).toBe(30_000);
    expect(nextDelayMs(0, timing, 0.999999)).toBe(33_000);
  });
  it('doubles per consecutive failure and caps at the maximum', () => {
    const levels: number[] = [];
    let level = 0;
    for (let i = 0; i < 8; i += 1) levels.push((level = nextBackoffLevel(level, true, timing)));
    expect(levels).toEqual([1, 2, 3, 4, 4, 4, 4, 4]);
    expect([1, 2, 3, 4].map((l) => nextDelayMs(l, timing, 0.5))).toEqual([60_000, 120_000, 240_000, 300_000]);
    expect(nextBackoffLevel(4, false, timing)).toBe(0);
  });
});

/** Runs the loop over `outcomes` (then successes) for four sleeps; what it slept and reported. */
async function loopOver(outcomes: boolean[], retryAtInterval?: (cycles: number) => boolean) {
  const controller = new AbortController();
  const delays: number[] = [];
  const levels: number[] = [];
  let cycles = 0;
  await runLoop(
    {
      timing,
      random: () => 0.5,
      cycle: () => Promise.resolve(outcomes[cycles++] ?? true),
      sleep: (ms) => {
        delays.push(ms);
        if (delays.length === 4) controller.abort();
        return Promise.resolve();
      },
      onBackoff: (level) => levels.push(level),
      ...(retryAtInterval === undefined ? {} : { retryAtInterval: () => retryAtInterval(cycles) }),
    },
    controller.signal,
  );
  return { delays, levels, cycles };
}

describe('runLoop', () => {
  it('runs the first cycle at once, backs off on failure, resets on success, stops on abort', async () => {
    const { delays, levels, cycles } = await loopOver([false, false, true, true]);
    expect(cycles).toBe(4);
    expect(levels).toEqual([1, 2, 0, 0]);
    expect(delays).toEqual([60_000, 120_000, 30_000, 30_000]);
  });
  it('does not start a cycle after abort', async () => {
    const controller = new AbortController();
    controller.abort();
    let cycles = 0;
    await runLoop(
      {
        timing,
        random: () => 0,
        cycle: () => Promise.resolve(Boolean(++cycles)),
        sleep: () => Promise.resolve(),
      },
      controller.signal,
    );
    expect(cycles).toBe(0);
  });
});

describe('runLoop after a database outage', () => {
  it('retries at the poll interval (with jitter), while the backoff level still counts the failures', async () => {
    // The first two failures: the database unreachable; the third: a host error.
    const { delays, levels } = await loopOver([false, false, false, true], (cycles) => cycles < 3);
    expect(levels).toEqual([1, 2, 3, 0]);
    expect(delays).toEqual([30_000, 30_000, 240_000, 30_000]);
  });
});

describe('wakeableSleep', () => {
  it('a wake ends the sleep in progress; a wake during a cycle ends the next sleep at once', async () => {
    const { sleep, wake } = wakeableSleep();
    const signal = new AbortController().signal;
    const started = Date.now();
    const sleeping = sleep(60_000, signal);
    wake();
    await sleeping;
    wake(); // no sleep in progress: remembered
    await sleep(60_000, signal);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('the loop stopping ends it too', async () => {
    const { sleep } = wakeableSleep();
    const controller = new AbortController();
    const sleeping = sleep(60_000, controller.signal);
    controller.abort();
    await sleeping;
    await sleep(60_000, controller.signal); // already stopped: returns at once
  });
});
