/**
 * The cycle's side of fleet-safe rollouts (SPEC §10): before changes to working NICs are applied, hold a
 * slot of the budget or leave them waiting; after the transaction, keep the slot as failed, or give it
 * back; and keep the node's row of the fleet table up to date, written only when it changes (and on a
 * heartbeat). A fleet table that cannot be reached never stops the node's other work: changes that need
 * a slot wait, everything else goes on.
 */
import type { Logger } from 'pino';
import { needsSlot, slotAfter, type Budget, type SlotState } from '../core/rollout.js';
import type { Change } from '../core/types.js';
import type { FleetStore, NodeId, NodeStatus } from '../store/fleet.js';
import type { ChangeResult } from './transaction.js';

export interface RolloutDeps {
  fleet: FleetStore;
  budget: Budget;
  leaseMs: number;
  heartbeatMs: number;
  /** The agent's version, for the node's row. */
  version: string;
}

/** What the cycle remembers about the node's slot and status row. */
export interface RolloutState {
  slot: SlotState;
  /** Why changes wait, as last logged (logged once until it changes). */
  waitingLogged: string | null;
  /** The status row as last written, and when. */
  lastStatus: string | null;
  lastStatusAt: number;
  /** The last fleet-table error logged, so an unreachable table is logged once. */
  lastError: string | null;
}

export function initialRolloutState(): RolloutState {
  return { slot: 'unknown', waitingLogged: null, lastStatus: null, lastStatusAt: 0, lastError: null };
}

export interface Gate {
  apply: Change[];
  /** Changes to working NICs left for a later cycle: no slot. */
  waiting: Change[];
  /** Why they wait (for the rows' reason). */
  reason: string | null;
}

/** Splits the changes: those that need a slot go only when the node holds one (claimed now or renewed). */
export async function gate(
  deps: RolloutDeps | undefined,
  state: RolloutState,
  id: NodeId,
  changes: readonly Change[],
  logger: Logger,
): Promise<Gate> {
  const needing = changes.filter(needsSlot);
  if (deps === undefined || deps.budget.kind === 'off' || needing.length === 0) {
    state.waitingLogged = null;
    return { apply: [...changes], waiting: [], reason: null };
  }
  const what = `${needing.length} change(s) to working NICs: ${[...new Set(needing.map((c) => c.kind))].join(', ')}`;
  let reason: string;
  // Logged once while the node waits behind the same nodes (their slots turning failed is no news).
  let logKey: string;
  try {
    const claim = await deps.fleet.claim(id, deps.budget, deps.leaseMs, what);
    if (claim.granted) {
      if (state.slot !== 'changing')
        logger.info({ changes: needing.length, slots: claim.slots }, 'rollout slot taken');
      state.slot = 'changing';
      state.waitingLogged = null;
      return { apply: [...changes], waiting: [], reason: null };
    }
    const holders = claim.holders.map((holder) => `${holder.node} (${holder.slot})`).join(', ');
    reason = `waiting for a rollout slot: ${claim.holders.length} of ${claim.slots} held by ${holders}`;
    logKey = claim.holders.map((holder) => holder.node).join(',');
  } catch (err) {
    reason = `waiting for a rollout slot: the fleet table cannot be used: ${err instanceof Error ? err.message : String(err)}`;
    logKey = reason;
  }
  if (state.waitingLogged !== logKey) {
    state.waitingLogged = logKey;
    logger.warn({ changes: needing.length, reason }, 'waiting for a rollout slot');
  }
  return { apply: changes.filter((change) => !needsSlot(change)), waiting: needing, reason };
}

/** After the transaction: the slot is kept as failed, released, or left as it is. */
export async function settle(
  deps: RolloutDeps | undefined,
  state: RolloutState,
  node: string,
  results: readonly ChangeResult[],
  deferred: readonly Change[],
  logger: Logger,
): Promise<void> {
  if (deps === undefined || deps.budget.kind === 'off') return;
  const failedNow = results.flatMap((r) =>
    r.failure === null ? [] : [{ change: r.change, reason: r.failure.reason }],
  );
  const after = slotAfter(state.slot, failedNow, deferred);
  try {
    if (after.action === 'fail') {
      await deps.fleet.fail(node, after.reason);
      if (state.slot !== 'failed')
        logger.warn({ reason: after.reason }, 'rollout slot kept: a change failed');
      state.slot = 'failed';
    } else if (after.action === 'release') {
      await deps.fleet.release(node);
      if (state.slot === 'changing' || state.slot === 'failed') logger.info({}, 'rollout slot released');
      state.slot = 'none';
    }
  } catch (err) {
    // Kept as it is: a changing slot's lease runs out by itself; the next cycle tries again.
    tableError(state, logger, err);
  }
}

/** Writes the node's status row when something in it changed, or when the heartbeat is due. */
export async function recordStatus(
  deps: RolloutDeps | undefined,
  state: RolloutState,
  status: NodeStatus,
  now: number,
  logger: Logger,
): Promise<void> {
  if (deps === undefined) return;
  const text = JSON.stringify(status);
  if (text === state.lastStatus && now - state.lastStatusAt < deps.heartbeatMs) return;
  try {
    await deps.fleet.writeStatus(status);
    state.lastStatus = text;
    state.lastStatusAt = now;
    state.lastError = null;
  } catch (err) {
    tableError(state, logger, err);
  }
}

function tableError(state: RolloutState, logger: Logger, err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  if (state.lastError === message) return;
  state.lastError = message;
  logger.warn({ reason: message }, 'fleet table not written');
}
