// The hot-plug watcher on a fake sysfs directory, with fake timers: one call per settled change of the
// MACs, none for a rename, none while a link flaps, at most one per minimum gap, and none at all idle;
// driven by a fake kernel event source (nothing at all runs between events) or by its directory poll.
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { watchLinks, type LinkEventSource } from '../../src/host/link-watch.js';

let dir: string;
beforeEach(() => {
  vi.useFakeTimers();
  dir = mkdtempSync(join(tmpdir(), 'multinic-sysfs-'));
  plug('eth0', 'fa:16:3e:ff:ff:00');
});
afterEach(() => {
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

function plug(name: string, mac: string, type = '1'): void {
  mkdirSync(join(dir, name));
  writeFileSync(join(dir, name, 'type'), `${type}\n`);
  writeFileSync(join(dir, name, 'address'), `${mac}\n`);
}

function unplug(name: string): void {
  rmSync(join(dir, name), { recursive: true });
}

/** A kernel event source the test fires by hand. */
function fakeEvents() {
  const listeners: (() => void)[] = [];
  const ends: ((reason: string) => void)[] = [];
  let stopped = false;
  const source: LinkEventSource = {
    onEvent: (listener) => listeners.push(listener),
    onEnd: (listener) => ends.push(listener),
    stop: () => (stopped = true),
  };
  return {
    source,
    fire: () => listeners.forEach((listener) => listener()),
    end: (reason: string) => ends.forEach((listener) => listener(reason)),
    stopped: () => stopped,
  };
}

function watch(events?: LinkEventSource) {
  const calls: number[] = [];
  const unavailable: string[] = [];
  const fallbacks: string[] = [];
  const watcher = watchLinks({
    events,
    onFallback: (reason) => fallbacks.push(reason),
    sysClassNet: dir,
    pollMs: 250,
    settleMs: 500,
    minGapMs: 1_000,
    now: () => Date.now(),
    onChange: () => calls.push(Date.now()),
    onUnavailable: (reason) => unavailable.push(reason),
  });
  return { calls, unavailable, fallbacks, watcher };
}

describe('watchLinks, listing the directory (no event source)', () => {
  it('idle: a listing every 250 ms and no call', () => {
    const { calls, watcher } = watch();
    vi.advanceTimersByTime(60_000);
    expect(calls).toEqual([]);
    expect(watcher.scans).toBe(240);
    watcher.stop();
  });

  it('a plug: one call, within poll + settle (≤ 0.75 s)', () => {
    const { calls, watcher } = watch();
    const at = Date.now();
    plug('ens4', 'fa:16:3e:00:00:01');
    vi.advanceTimersByTime(2_000);
    expect(calls).toHaveLength(1);
    expect(calls[0]! - at).toBeLessThanOrEqual(750);
    watcher.stop();
  });

  it('ten plugs in one second: one call', () => {
    const { calls, watcher } = watch();
    for (let n = 0; n < 10; n += 1) {
      plug(`ens${n + 4}`, `fa:16:3e:00:00:${n.toString(16).padStart(2, '0')}`);
      vi.advanceTimersByTime(100);
    }
    vi.advanceTimersByTime(3_000);
    expect(calls).toHaveLength(1);
    watcher.stop();
  });

  it('a rename (the agent naming a NIC) and a non-Ethernet link: no call', () => {
    plug('ens4', 'fa:16:3e:00:00:01');
    const { calls, watcher } = watch();
    renameSync(join(dir, 'ens4'), join(dir, 'multinic0'));
    plug('tun0', '00:00:00:00:00:00', '65534');
    vi.advanceTimersByTime(5_000);
    expect(calls).toEqual([]);
    watcher.stop();
  });

  it('an unplug: one call', () => {
    plug('ens4', 'fa:16:3e:00:00:01');
    const { calls, watcher } = watch();
    unplug('ens4');
    vi.advanceTimersByTime(2_000);
    expect(calls).toHaveLength(1);
    watcher.stop();
  });

  it('a NIC flapping every 50 ms for 10 s: no call while it flaps, one when it settles', () => {
    const { calls, watcher } = watch();
    for (let i = 0; i < 200; i += 1) {
      if (i % 2 === 0) plug('ens4', 'fa:16:3e:00:00:01');
      else unplug('ens4');
      vi.advanceTimersByTime(50);
    }
    // The watcher samples every 250 ms: what it sees changes on most samples, so it never settles.
    const during = calls.length;
    vi.advanceTimersByTime(3_000);
    expect(during).toBe(0);
    expect(calls.length - during).toBeLessThanOrEqual(1);
    watcher.stop();
  });

  it('without a readable /sys/class/net: says so once and stops', () => {
    const { calls, unavailable, watcher } = watch();
    rmSync(dir, { recursive: true });
    vi.advanceTimersByTime(5_000);
    expect(unavailable).toEqual([`cannot list ${dir}`]);
    expect(watcher.scans).toBe(1);
    expect(calls).toEqual([]);
  });
});

describe('watchLinks on kernel link events', () => {
  it('idle: no listing and no timer, however long', () => {
    const events = fakeEvents();
    const { calls, watcher } = watch(events.source);
    vi.advanceTimersByTime(600_000);
    expect(vi.getTimerCount()).toBe(0);
    expect(watcher.scans).toBe(0);
    expect(watcher.mode).toBe('events');
    expect(calls).toEqual([]);
    watcher.stop();
    expect(events.stopped()).toBe(true);
  });

  it('a plug: one listing and one call, settleMs after its event', () => {
    const events = fakeEvents();
    const { calls, watcher } = watch(events.source);
    const at = Date.now();
    plug('ens4', 'fa:16:3e:00:00:01');
    events.fire();
    vi.advanceTimersByTime(499);
    expect(calls).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(calls).toEqual([at + 500]);
    vi.advanceTimersByTime(10_000);
    expect(calls).toHaveLength(1);
    expect(watcher.scans).toBe(1);
    watcher.stop();
  });

  it('ten plugs in one second: one call, after the last', () => {
    const events = fakeEvents();
    const { calls, watcher } = watch(events.source);
    for (let n = 0; n < 10; n += 1) {
      plug(`ens${n + 4}`, `fa:16:3e:00:00:${n.toString(16).padStart(2, '0')}`);
      events.fire();
      vi.advanceTimersByTime(100);
    }
    const last = Date.now() - 100;
    vi.advanceTimersByTime(3_000);
    expect(calls).toEqual([last + 500]);
    watcher.stop();
  });

  it('events that change no MAC (a rename, a link going down and up): a listing each, no call', () => {
    plug('ens4', 'fa:16:3e:00:00:01');
    const events = fakeEvents();
    const { calls, watcher } = watch(events.source);
    renameSync(join(dir, 'ens4'), join(dir, 'multinic0'));
    events.fire();
    vi.advanceTimersByTime(1_000);
    events.fire();
    vi.advanceTimersByTime(1_000);
    expect(watcher.scans).toBe(2);
    expect(calls).toEqual([]);
    watcher.stop();
  });

  it('a NIC flapping every 10 ms for 10 s, then left plugged: no call while it flaps, one when it settles', () => {
    const events = fakeEvents();
    const { calls, watcher } = watch(events.source);
    for (let i = 0; i < 1_000; i += 1) {
      if (i % 2 === 0) plug('ens4', 'fa:16:3e:00:00:01');
      else unplug('ens4');
      events.fire();
      vi.advanceTimersByTime(10);
    }
    plug('ens4', 'fa:16:3e:00:00:01');
    events.fire();
    const settled = Date.now();
    expect(calls).toEqual([]);
    // Every event is seen, so a flood never looks settled: the watcher lists nothing until it is over.
    expect(watcher.scans).toBe(0);
    vi.advanceTimersByTime(3_000);
    expect(calls).toEqual([settled + 500]);
    watcher.stop();
  });

  it('two settled changes within the least gap: the second call waits for it', () => {
    const events = fakeEvents();
    const { calls, watcher } = watch(events.source);
    const at = Date.now();
    plug('ens4', 'fa:16:3e:00:00:01');
    events.fire();
    vi.advanceTimersByTime(600);
    plug('ens5', 'fa:16:3e:00:00:02');
    events.fire();
    vi.advanceTimersByTime(5_000);
    expect(calls).toEqual([at + 500, at + 1_500]);
    watcher.stop();
  });

  it('when the event source ends: says why, and lists the directory every pollMs from then on', () => {
    const events = fakeEvents();
    const { calls, fallbacks, watcher } = watch(events.source);
    events.end('ip monitor exited (SIGKILL)');
    expect(fallbacks).toEqual(['ip monitor exited (SIGKILL)']);
    expect(watcher.mode).toBe('poll');
    plug('ens4', 'fa:16:3e:00:00:01');
    vi.advanceTimersByTime(2_000);
    expect(calls).toHaveLength(1);
    expect(watcher.scans).toBe(8);
    watcher.stop();
  });
});
