// The kernel event source of the hot-plug watcher (host/link-watch.ts), with stand-ins for `ip`: each
// line it prints is an event, its end is reported once with why, and stop() ends it without a report.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ipMonitorEvents } from '../../src/host/link-watch.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'multinic-ip-monitor-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function standIn(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

describe('ipMonitorEvents', () => {
  it('is called with -o monitor link; each line is an event; its exit is reported once', async () => {
    const args = join(dir, 'args');
    const ip = standIn('ip-three', `echo "$*" > '${args}'; echo 2: ens4; sleep 0.2; echo 3: ens5; exit 3`);
    const source = ipMonitorEvents(ip);
    let events = 0;
    const ends: string[] = [];
    source.onEvent(() => (events += 1));
    source.onEnd((reason) => ends.push(reason));
    await vi.waitFor(() => expect(ends).toHaveLength(1), { timeout: 5_000 });
    expect(events).toBe(2);
    expect(ends).toEqual([`${ip} monitor exited (code 3)`]);
    expect(readFileSync(args, 'utf8').trim()).toBe('-o monitor link');
  });

  it('a command that cannot run: reported as such', async () => {
    const source = ipMonitorEvents(join(dir, 'absent-ip'));
    const ends: string[] = [];
    source.onEnd((reason) => ends.push(reason));
    await vi.waitFor(() => expect(ends).toHaveLength(1), { timeout: 5_000 });
    expect(ends[0]).toMatch(/^cannot run .*absent-ip monitor: spawn .* ENOENT$/);
  });

  it('stop() ends it, and that is no end to report', async () => {
    const pid = join(dir, 'pid');
    const ip = standIn('ip-waits', `echo $$ > '${pid}'; exec sleep 60`);
    const source = ipMonitorEvents(ip);
    const ends: string[] = [];
    source.onEnd((reason) => ends.push(reason));
    await vi.waitFor(() => expect(existsSync(pid)).toBe(true), { timeout: 5_000 });
    source.stop();
    const child = Number(readFileSync(pid, 'utf8'));
    await vi.waitFor(() => expect(() => process.kill(child, 0)).toThrow(), { timeout: 5_000 });
    expect(ends).toEqual([]);
  });
});
