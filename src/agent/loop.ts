/** Timing of the reconcile loop (SPEC §7), with the clock and randomness injected. */
export interface LoopTiming {
  intervalMs: number;
  /** Upper bound of a backed-off delay. */
  maxBackoffMs: number;
  /** Fraction of jitter either way: 0.1 means ±10%. */
  jitter: number;
}

/** Backoff level after a cycle: 0 after success, one more per consecutive failure, capped. */
export function nextBackoffLevel(level: number, failed: boolean, timing: LoopTiming): number {
  if (!failed) return 0;
  const cap = Math.ceil(Math.log2(Math.max(1, timing.maxBackoffMs / timing.intervalMs)));
  return Math.min(level + 1, cap);
}

/** Delay before the next cycle: the interval ×2 per backoff level, capped, with ±jitter. `random` is in [0, 1). */
export function nextDelayMs(level: number, timing: LoopTiming, random: number): number {
  const base = Math.min(timing.intervalMs * 2 ** level, Math.max(timing.intervalMs, timing.maxBackoffMs));
  const factor = 1 + timing.jitter * (2 * random - 1);
  return Math.round(base * factor);
}

export interface LoopDeps {
  timing: LoopTiming;
  /** One cycle; resolves true when it succeeded, false when it failed (the loop backs off). */
  cycle(): Promise<boolean>;
  random(): number;
  /** Resolves after `ms`, or early when the signal aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  onBackoff?(level: number): void;
  /**
   * After a failed cycle: whether the next one comes after the normal interval rather than the backed-off
   * delay (the database was unreachable: the next cycle's connect is the probe, at the steady rate).
   */
  retryAtInterval?(): boolean;
}

/**
 * First cycle at once, then every interval with jitter; exponential backoff on failure (the level counts
 * consecutive failures either way). Returns when the signal aborts; a cycle in progress is finished first
 * (every step of a cycle is bounded in time).
 */
export async function runLoop(deps: LoopDeps, signal: AbortSignal): Promise<void> {
  let level = 0;
  while (!signal.aborted) {
    const ok = await deps.cycle();
    level = nextBackoffLevel(level, !ok, deps.timing);
    deps.onBackoff?.(level);
    if (signal.aborted) return;
    const delayLevel = !ok && deps.retryAtInterval?.() === true ? 0 : level;
    await deps.sleep(nextDelayMs(delayLevel, deps.timing, deps.random()), signal);
  }
}

/**
 * Sleeps that `wake()` cuts short, for an event that needs a cycle now (a NIC plugged in). A wake while no
 * sleep is running (a cycle is) makes the next sleep end at once: that cycle may have read the links
 * before the event.
 */
export interface WakeableSleep {
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  wake: () => void;
}

export function wakeableSleep(): WakeableSleep {
  let pending = false;
  const sleeping = new Set<AbortController>();
  return {
    sleep: async (ms, signal) => {
      if (signal.aborted) return;
      if (pending) {
        pending = false;
        return;
      }
      const woken = new AbortController();
      const stop = () => woken.abort();
      signal.addEventListener('abort', stop, { once: true });
      sleeping.add(woken);
      try {
        await abortableSleep(ms, woken.signal);
      } finally {
        sleeping.delete(woken);
        signal.removeEventListener('abort', stop);
      }
    },
    wake: () => {
      if (sleeping.size === 0) pending = true;
      for (const woken of sleeping) woken.abort();
    },
  };
}

/** A sleep that an AbortSignal cuts short. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
