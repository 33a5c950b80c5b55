/**
 * Failed changes back off on their own: a change that failed (and was rolled back) is not tried again with
 * the same configuration for 0, 1, 3, 7, … cycles after each consecutive failure (capped), so one NIC
 * whose change cannot hold neither disturbs the node with an apply every cycle nor delays the other NICs'
 * changes. A change to the row (another address, MTU, MAC or name) is tried at once.
 */
import type { Change, NamedNic } from './types.js';

/** A row whose change failed: with which configuration, how often in a row, and until when it waits. */
export interface FailedChange {
  /** The configuration that failed (changeKey). */
  key: string;
  /** Consecutive failures of this configuration. */
  failures: number;
  /** The first cycle number in which it is tried again. */
  retryCycle: number;
  /** How many cycles it waits after its last failure (retryCycle − 1 − that cycle). */
  wait: number;
  /** Why it failed last. */
  reason: string;
}

/** What a change tried in this cycle came to: null when it held. */
export interface TriedChange {
  change: Change;
  failure: { reason: string } | null;
}

/** The configuration a change would apply, as a comparable string. */
export function changeKey(nic: NamedNic): string {
  const address = nic.address === null ? 'link-only' : `${nic.address.ip}/${nic.address.prefix}`;
  return `${nic.name} ${nic.mac} ${address} ${nic.mtu}`;
}

/** Splits the plan's changes into those to apply now and those still waiting after a failure, by row id. */
export function holdFailed(
  changes: readonly Change[],
  failed: ReadonlyMap<number, FailedChange>,
  cycle: number,
): { apply: Change[]; held: Map<number, FailedChange> } {
  const apply: Change[] = [];
  const held = new Map<number, FailedChange>();
  for (const change of changes) {
    const entry = change.kind === 'remove' ? undefined : failed.get(change.nic.id);
    if (change.kind !== 'remove' && entry?.key === changeKey(change.nic) && cycle < entry.retryCycle) {
      held.set(change.nic.id, entry);
    } else {
      apply.push(change);
    }
  }
  return { apply, held };
}

/**
 * The failed changes to remember after cycle `cycle`: the ones still held, and each change that failed
 * now (its failures counted on when it is the same configuration as before). A change that held, a row
 * that no longer needs a change and a row that is gone are forgotten.
 */
export function rememberFailed(
  previous: ReadonlyMap<number, FailedChange>,
  held: ReadonlyMap<number, FailedChange>,
  tried: readonly TriedChange[],
  cycle: number,
  maxWaitCycles: number,
): Map<number, FailedChange> {
  const next = new Map(held);
  for (const { change, failure } of tried) {
    if (change.kind === 'remove' || failure === null) continue;
    const key = changeKey(change.nic);
    const before = previous.get(change.nic.id);
    const failures = before?.key === key ? before.failures + 1 : 1;
    const wait = Math.min(2 ** Math.min(failures - 1, 30) - 1, maxWaitCycles);
    next.set(change.nic.id, { key, failures, retryCycle: cycle + 1 + wait, wait, reason: failure.reason });
  }
  return next;
}
