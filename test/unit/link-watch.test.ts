// The hot-plug watcher on a fake sysfs directory, with fake timers: one call per settled change of the
// MACs, none for a rename, none while a link flaps, at most one per minimum gap, and none at all idle.
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { watchLinks } from '../../src/host/link-watch.js';

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

function watch() {
  const calls: number[] = [];
  const unavailable: string[] = [];
  const watcher = watchLinks({
    sysClassNet: dir,
    pollMs: 250,
    settleMs: 500,
    minGapMs: 1_000,
    now: () => Date.now(),
    onChange: () => calls.push(Date.now()),
    onUnavailable: (reason) => unavailable.push(reason),
  });
  return { calls, unavailable, watcher };
}

describe('watchLinks', () => {
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
