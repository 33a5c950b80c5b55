/**
 * Notices a NIC that OpenStack hot-plugs (or unplugs) without waiting for the next poll: the names in
 * /sys/class/net are listed every `pollMs` (one readdir, no process, no database), and when the set of
 * Ethernet MACs behind them has changed and then stayed the same for `settleMs`, `onChange` is called
 * once. A burst of plugs is one call; a link flapping faster than `settleMs` is no call until it settles;
 * the agent's own renames change names but not MACs, so they are no call at all.
 *
 * Why a sysfs poll: sysfs has no inotify, netlink needs a native module or a process (`ip monitor`), and
 * udev events do not reach a container. A readdir of a few dozen entries every 250 ms costs microseconds.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

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
}

export interface LinkWatch {
  stop(): void;
  /** Directory listings so far (a test's count of the watcher's cost). */
  readonly scans: number;
}

export function watchLinks(options: LinkWatchOptions): LinkWatch {
  const first = listNames(options.sysClassNet) ?? [];
  let names = first.join(' ');
  let macs = macsOf(options.sysClassNet, first);
  let changedAt: number | null = null;
  let firedAt = -Infinity;
  let scans = 0;
  const timer = setInterval(tick, options.pollMs);
  timer.unref();

  function tick(): void {
    scans += 1;
    const listed = listNames(options.sysClassNet);
    if (listed === null) {
      clearInterval(timer);
      options.onUnavailable(`cannot list ${options.sysClassNet}`);
      return;
    }
    const key = listed.join(' ');
    if (key !== names) {
      names = key;
      const now = macsOf(options.sysClassNet, listed);
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

  return {
    stop: () => clearInterval(timer),
    get scans() {
      return scans;
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

/** The MACs of the Ethernet links, sorted, as one string (only read when the names changed). */
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
