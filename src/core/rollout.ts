/**
 * Fleet-safe rollouts (SPEC §10): the budget of nodes that may change already-working NICs at once, which
 * changes need one of its slots, and what a node's slot becomes after a cycle. Pure; the store holds the
 * slots (store/fleet.ts) and the cycle drives them.
 */
import { appliesSettings } from './plan.js';
import type { Change } from './types.js';

/** ROLLOUT_MAX_UNAVAILABLE: off, a number of nodes, or a percentage of the nodes that have rows. */
export type Budget =
  { kind: 'off' } | { kind: 'count'; nodes: number } | { kind: 'percent'; percent: number };

/** Parses the setting; null when it is none of `off`, a count ≥ 1, or a percentage 1–100. */
export function parseBudget(text: string): Budget | null {
  const value = text.trim().toLowerCase();
  if (value === 'off') return { kind: 'off' };
  const percent = /^([0-9]{1,3})%$/.exec(value);
  if (percent !== null) {
    const n = Number(percent[1]);
    return n >= 1 && n <= 100 ? { kind: 'percent', percent: n } : null;
  }
  if (!/^[0-9]{1,6}$/.test(value) || Number(value) < 1) return null;
  return { kind: 'count', nodes: Number(value) };
}

/** The number of slots for a fleet of `nodesWithRows` nodes: a percentage rounds down, but is at least 1. */
export function slotsOf(budget: Exclude<Budget, { kind: 'off' }>, nodesWithRows: number): number {
  if (budget.kind === 'count') return budget.nodes;
  return Math.max(1, Math.floor((budget.percent * nodesWithRows) / 100));
}

/**
 * A change that touches a NIC already configured: one that applies something (update, re-apply, removal,
 * takeover that applies) to a NIC that is not new.
 */
export function needsSlot(change: Change): boolean {
  return change.kind !== 'create' && appliesSettings(change);
}

/** What a node's slot is, as this agent last knew it (`unknown` after a start: the table may say). */
export type SlotState = 'unknown' | 'none' | 'changing' | 'failed';

/** What to do with the slot after a cycle. */
export type SlotAfter = { action: 'keep' } | { action: 'release' } | { action: 'fail'; reason: string };

/**
 * After a cycle: a slot-needing change that failed now, or that still waits after a failure (its retry
 * backoff), keeps the slot as `failed` (the node counts as unavailable, as nmstate counts a failing node);
 * otherwise a slot held (or possibly held, after a start) is released, since nothing needs it any more.
 */
export function slotAfter(
  state: SlotState,
  failedNow: readonly { change: Change; reason: string }[],
  stillDeferred: readonly Change[],
): SlotAfter {
  const failure = failedNow.find((entry) => needsSlot(entry.change));
  if (failure !== undefined) return { action: 'fail', reason: failure.reason };
  if (stillDeferred.some(needsSlot))
    return state === 'failed'
      ? { action: 'keep' }
      : { action: 'fail', reason: 'a change that failed before waits to be tried again' };
  return state === 'none' ? { action: 'keep' } : { action: 'release' };
}
