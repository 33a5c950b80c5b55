/**
 * Notices a NIC that OpenStack hot-plugs (or unplugs) without waiting for the next poll. When the set of
 * Ethernet MACs in /sys/class/net has changed and then stayed the same for `settleMs`, `onChange` is
 * called once (at most once per `minGapMs`). A burst of plugs is one call; a link that keeps flapping is
 * no call until it settles; the agent's own renames change names but not MACs, so they are no call at all.
 *
 * Two ways to notice, the first preferred:
 * - kernel link events (rtnetlink, through one long-lived `ip -o monitor link` started with the daemon):
 *   nothing runs while the links are quiet, and every event is seen, so "settled" means no event at all for
 *   `settleMs`. Each event costs one wake-up of the event loop, so a flood costs in proportion to its rate.
 * - a listing of /sys/class/net every `pollMs`, when there is no event source or it ends: one readdir, no
 *   process, but a timer wake-up every `pollMs` (measured ~0.2 ms of CPU each on the bench machine, most
 *   of the idle daemon's CPU at 250 ms), and a flap between two listings can go unseen.
 * Why not inotify or udev: sysfs has no inotify, and udev events do not reach a container.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Kernel link events, as a stream of "something changed" signals. */
export interface LinkEventSource {
  onEvent(listener: () => void): void;
  /** Called once when the source cannot start or stops by itself, with why. */
  onEnd(listener: (reason: string) => void): void;
  stop(): void;
}

export interface LinkWatchOptions {
  sysClassNet: string;
  pollMs: number;
  settleMs: number;
  /** The least time between two calls, whatever the links do (a flapping NIC costs at most this rate). */
  minGapMs: number;
  onChange(): void;
  /** Told once when /sys/class/net cannot be read: the agent then relies on its poll interval alone. */
  onUnavailable(reason: string): void;
  now(): number;
  /** Kernel link events; without them (or once they end) the directory is listed every `pollMs`. */
  events?: LinkEventSource;
  /** Told when the event source ended and the watcher lists the directory instead. */
  onFallback?(reason: string): void;
}

export interface LinkWatch {
  stop(): void;
  /** Directory listings so far (a test's count of the watcher's cost). */
  readonly scans: number;
  readonly mode: 'events' | 'poll' | 'off';
}

export function watchLinks(options: LinkWatchOptions): LinkWatch {
  const dir = options.sysClassNet;
  const first = listNames(dir) ?? [];
  let names = first.join(' ');
  let macs = macsOf(dir, first);
  let changedAt: number | null = null;
  let firedAt = -Infinity;
  let scans = 0;
  let mode: LinkWatch['mode'] = options.events === undefined ? 'poll' : 'events';
  let interval: NodeJS.Timeout | undefined;
  let settle: NodeJS.Timeout | undefined;
  let lastEvent = -Infinity;

  function unavailable(): void {
    stopAll();
    options.onUnavailable(`cannot list ${dir}`);
  }

  function stopAll(): void {
    mode = 'off';
    clearInterval(interval);
    clearTimeout(settle);
    options.events?.stop();
  }

  // Poll mode: names listed every pollMs, the MACs read only when the names changed.
  function tick(): void {
    scans += 1;
    const listed = listNames(dir);
    if (listed === null) return unavailable();
    const key = listed.join(' ');
    if (key !== names) {
      names = key;
      const now = macsOf(dir, listed);
      if (now !== macs) {
        macs = now;
        changedAt = options.now();
      }
    }
    const now = options.now();
    if (changedAt !== null && now - changedAt >= options.settleMs && now - firedAt >= options.minGapMs) {
      changedAt = null;
      firedAt = now;
      options.onChange();
    }
  }

  function poll(): void {
    mode = 'poll';
    interval = setInterval(tick, options.pollMs);
    interval.unref();
  }

  // Event mode: no timer at all until an event; then one check once no event came for settleMs.
  function onEvent(): void {
    lastEvent = options.now();
    if (settle === undefined) arm(options.settleMs);
  }

  function arm(ms: number): void {
    settle = setTimeout(check, ms);
    settle.unref();
  }

  function check(): void {
    settle = undefined;
    const now = options.now();
    const quiet = now - lastEvent;
    if (quiet < options.settleMs) return arm(options.settleMs - quiet);
    scans += 1;
    const listed = listNames(dir);
    if (listed === null) return unavailable();
    names = listed.join(' ');
    const current = macsOf(dir, listed);
    if (current === macs) return;
    const gap = now - firedAt;
    if (gap < options.minGapMs) return arm(options.minGapMs - gap);
    macs = current;
    firedAt = now;
    options.onChange();
  }

  if (options.events === undefined) {
    poll();
  } else {
    options.events.onEvent(onEvent);
    options.events.onEnd((reason) => {
      if (mode !== 'events') return;
      clearTimeout(settle);
      settle = undefined;
      options.onFallback?.(reason);
      // What changed while the source was failing is caught by the first listings.
      poll();
    });
  }

  return {
    stop: stopAll,
    get scans() {
      return scans;
    },
    get mode() {
      return mode;
    },
  };
}

/**
 * The kernel's link events through `ip -o monitor link` (iproute2, in the image): one process for the
 * daemon's lifetime, blocked on its netlink socket while nothing happens. It sees the network namespace
 * the agent runs in, which is the host's (hostNetwork), like the agent's reads of /sys/class/net.
 */
export function ipMonitorEvents(command = 'ip'): LinkEventSource {
  const child = spawn(command, ['-o', 'monitor', 'link'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const events: (() => void)[] = [];
  const ends: ((reason: string) => void)[] = [];
  let ended = false;
  const end = (reason: string) => {
    if (ended) return;
    ended = true;
    for (const listener of ends) listener(reason);
  };
  child.stdout.on('data', () => {
    for (const listener of events) listener();
  });
  child.once('error', (err) => end(`cannot run ${command} monitor: ${err.message}`));
  child.once('exit', (code, signal) => end(`${command} monitor exited (${signal ?? `code ${code}`})`));
  return {
    onEvent: (listener) => events.push(listener),
    onEnd: (listener) => ends.push(listener),
    stop: () => {
      ended = true;
      if (child.exitCode === null && child.signalCode === null) child.kill();
    },
  };
}

function listNames(dir: string): string[] | null {
  try {
    return readdirSync(dir).sort();
  } catch {
    return null;
  }
}

/** The MACs of the Ethernet links, sorted, as one string. */
function macsOf(dir: string, names: readonly string[]): string {
  const macs: string[] = [];
  for (const name of names) {
    try {
      if (readFileSync(join(dir, name, 'type'), 'utf8').trim() !== '1') continue;
      macs.push(
        readFileSync(join(dir, name, 'address'), 'utf8')
          .trim()
          .toLowerCase(),
      );
    } catch {
      // Gone while read: the next listing tells.
    }
  }
  return macs.sort().join(' ');
}
