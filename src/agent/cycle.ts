import type { Logger } from 'pino';
import { plan } from '../core/plan.js';
import { holdFailed, rememberFailed, type FailedChange } from '../core/retry.js';
import type {
  Change,
  ForeignFile,
  HeldNic,
  InterfaceRow,
  LiveLink,
  Observed,
  Plan,
  RowField,
  RowOutcome,
} from '../core/types.js';
import type { Backend } from '../host/backends/backend.js';
import type { SlotState } from '../core/rollout.js';
import type { NodeId, NodeStatus } from '../store/fleet.js';
import type { DesiredStore, StatusUpdate } from '../store/store.js';
import {
  gate,
  initialRolloutState,
  recordStatus,
  settle,
  type RolloutDeps,
  type RolloutState,
} from './rollout.js';
import { applyTransaction, type ChangeResult, type Failure, type TransactionDeps } from './transaction.js';

export interface CycleDeps extends TransactionDeps {
  nodeName: string;
  store: DesiredStore;
  backend: Backend;
  readLinks(): Promise<LiveLink[]>;
  /** Interfaces holding the default route or the node's primary address. */
  protectedNames(links: readonly LiveLink[]): Promise<string[]>;
  logger: Logger;
  /** Called once the plan is known, before anything is applied (metrics: tasks in flight). */
  onPlan?(decided: Plan): void;
  /** The longest a failed change waits, in cycles, before it is tried again with the same configuration. */
  maxRetryWaitCycles: number;
  /** The fleet table (MySQL only): rollout slots and this node's status row. */
  rollout?: RolloutDeps;
}

/** What a cycle remembers for the next one. */
export interface CycleState {
  orphanCandidates: string[];
  /** Last problem logged per row id, so a row that stays bad is logged once, not every cycle. */
  logged: Map<number, string>;
  /** Error kind of the last failed cycle, so an outage is logged when it starts, not every retry. */
  lastCycleError: string | null;
  /** Number of the next cycle (counts cycles that reached the plan). */
  cycle: number;
  /** Rows whose change failed, by id: not tried again with the same configuration for a while. */
  failedChanges: Map<number, FailedChange>;
  /** Held configurations by name, with the reason logged, so a hold is logged when it starts and ends. */
  holds: Map<string, string>;
  /** Foreign files by path, with the reason logged: each is logged when first seen (or its reason changes). */
  foreign: Map<string, string>;
  rollout: RolloutState;
}

export function initialState(): CycleState {
  return {
    orphanCandidates: [],
    logged: new Map(),
    lastCycleError: null,
    cycle: 0,
    failedChanges: new Map(),
    holds: new Map(),
    foreign: new Map(),
    rollout: initialRolloutState(),
  };
}

/** Final state of one row after the cycle; `success` is what netplan_success must be. */
export interface RowReport {
  id: number;
  success: 0 | 1;
  name: string | null;
  mac: string | null;
  /** `held`: refused, and the NIC it configured before is kept exactly as it was (`refusal` says why). */
  state: 'configured' | 'in_sync' | 'failed' | 'held' | 'waiting_for_rollout_slot' | RejectedKind;
  /** The kind of refusal, for a refused or held row. */
  refusal: RejectedKind | null;
  /** The row field a rejection is about. */
  field: RowField | null;
  reason: string | null;
}
export type RejectedKind = 'invalid' | 'duplicate' | 'capacity' | 'protected' | 'waiting' | 'foreign';

export interface CycleReport {
  plan: Plan;
  results: ChangeResult[];
  rows: RowReport[];
  statusUpdates: StatusUpdate[];
  /** Changes that failed (rolled back) in this cycle; they back off on their own (core/retry.ts). */
  failed: number;
  /** Rows whose change was not tried in this cycle because the same change failed before. */
  deferred: ReadonlyMap<number, FailedChange>;
  /** Changes to working NICs not applied because no rollout slot was free. */
  waitingForSlot: Change[];
  /** The node's rollout slot after the cycle. */
  slot: SlotState;
  /** Time spent in the apply transaction (0 when the plan was empty). */
  applySeconds: number;
  /** Refused rows logged for the first time (or with a new reason) in this cycle. */
  refusedNow: RowReport[];
  /** Live links at the end of the cycle (read again only when something was applied). */
  links: LiveLink[];
}

/** Reads what the host has now: owned files, live links, protected interfaces. */
export async function observe(deps: CycleDeps, state: CycleState): Promise<Observed> {
  const [scan, links] = await Promise.all([deps.backend.scan(), deps.readLinks()]);
  return {
    files: scan.files,
    links,
    protectedNames: await deps.protectedNames(links),
    orphanCandidates: state.orphanCandidates,
    reservedNames: scan.reservedNames,
    others: scan.others,
  };
}

/**
 * One reconcile cycle (SPEC §6): desired rows → observed host → plan → (only if the plan is not empty)
 * one transaction → status written back where it changed. A store error propagates before anything on
 * the host is touched, so a failed query never leads to a deletion.
 */
export async function runCycle(deps: CycleDeps, state: CycleState): Promise<CycleReport> {
  try {
    return await reconcile(deps, state);
  } finally {
    // Between cycles the agent holds no database connection (unless DB_KEEP_CONNECTION).
    await deps.store.idle();
  }
}

/**
 * The host as it is, this node's rows (and where the rows its files name are now), and the plan between
 * them: the first half of a cycle, and all of `multinic-agent plan`. Changes nothing.
 */
export async function readAndPlan(deps: CycleDeps, state: CycleState) {
  const observed = await observe(deps, state);
  const owned = observed.files.flatMap((file) => (file.rowId === null ? [] : [file.rowId]));
  const { rows, elsewhere } = await deps.store.rowsForNode(deps.nodeName, owned);
  return { observed, rows, planned: plan(rows, observed, elsewhere) };
}

async function reconcile(deps: CycleDeps, state: CycleState): Promise<CycleReport> {
  const { observed, rows, planned } = await readAndPlan(deps, state);
  const cycle = state.cycle++;
  const { apply: due, held: deferred } = holdFailed(planned.changes, state.failedChanges, cycle);
  const gated = await gate(deps.rollout, state.rollout, nodeIdOf(deps), due, deps.logger);
  const apply = gated.apply;
  const decided = { ...planned, changes: apply };
  state.orphanCandidates = decided.orphanCandidates;
  deps.onPlan?.(decided);
  const applyStart = deps.now();
  const results = apply.length === 0 ? [] : await applyTransaction(deps, apply, observed.files);
  const applySeconds = (deps.now() - applyStart) / 1000;
  state.failedChanges = rememberFailed(
    state.failedChanges,
    deferred,
    results,
    cycle,
    deps.maxRetryWaitCycles,
  );
  const heldIds = new Set(decided.held.map((nic) => nic.rowId));
  const waiting = { ids: new Set(gated.waiting.flatMap(idOf)), reason: gated.reason };
  const reports = decided.rows.map((outcome) =>
    rowReport(outcome, results, state.failedChanges, heldIds, waiting),
  );
  const statusUpdates = changedStatuses(rows, reports);
  // Logged before the write-back: what was done to the host is told even when the database is gone.
  logResults(deps.logger, results, decided, state.failedChanges);
  logHolds(deps.logger, state, decided.held);
  logForeign(deps.logger, state, decided.foreign);
  const refusedNow = logRefusals(deps.logger, state, reports);
  await deps.store.writeStatus(statusUpdates);
  const stillDeferred = planned.changes.filter((change) => idOf(change).some((id) => deferred.has(id)));
  await settle(deps.rollout, state.rollout, deps.nodeName, results, stillDeferred, deps.logger);
  await recordStatus(deps.rollout, state.rollout, statusOf(deps, reports), deps.now(), deps.logger);
  return {
    plan: decided,
    results,
    rows: reports,
    statusUpdates,
    failed: results.filter((r) => r.failure).length,
    deferred,
    waitingForSlot: gated.waiting,
    slot: state.rollout.slot,
    applySeconds,
    refusedNow,
    links: results.length === 0 ? observed.links : await deps.readLinks(),
  };
}

function idOf(change: Change): number[] {
  return change.kind === 'remove' ? [] : [change.nic.id];
}

function nodeIdOf(deps: CycleDeps): NodeId {
  return { node: deps.nodeName, version: deps.rollout?.version ?? '', backend: deps.backend.kind };
}

/** This node's row of the fleet table, from the rows' reports. */
function statusOf(deps: CycleDeps, reports: readonly RowReport[]): NodeStatus {
  const count = (states: readonly RowReport['state'][]) =>
    reports.filter((r) => states.includes(r.state)).length;
  return {
    ...nodeIdOf(deps),
    configured: count(['configured', 'in_sync']),
    failed: count(['failed']),
    waiting: count(['waiting', 'waiting_for_rollout_slot']),
    refused:
      reports.length - count(['configured', 'in_sync', 'failed', 'waiting', 'waiting_for_rollout_slot']),
    // Why the node is not converged: a failure first, else why its changes wait for a slot.
    lastError:
      reports.find((r) => r.state === 'failed')?.reason ??
      reports.find((r) => r.state === 'waiting_for_rollout_slot')?.reason ??
      null,
  };
}

function resultFor(id: number, results: readonly ChangeResult[]): ChangeResult | undefined {
  return results.find((result) => result.change.kind !== 'remove' && result.change.nic.id === id);
}

function rowReport(
  outcome: RowOutcome,
  results: readonly ChangeResult[],
  failed: ReadonlyMap<number, FailedChange>,
  heldIds: ReadonlySet<number | null>,
  waiting: { ids: ReadonlySet<number>; reason: string | null },
): RowReport {
  if (outcome.state === 'rejected') {
    const { problem } = outcome;
    return {
      id: outcome.id,
      success: 0,
      name: null,
      mac: outcome.mac,
      state: heldIds.has(outcome.id) ? 'held' : problem.kind,
      refusal: problem.kind,
      field: problem.field,
      reason: problem.reason,
    };
  }
  const base = { id: outcome.id, name: outcome.nic.name, mac: outcome.nic.mac, field: null, refusal: null };
  if (outcome.state === 'in_sync') return { ...base, success: 1, state: 'in_sync', reason: null };
  if (waiting.ids.has(outcome.id))
    return { ...base, success: 0, state: 'waiting_for_rollout_slot', reason: waiting.reason };
  const failure: Failure | null | undefined = resultFor(outcome.id, results)?.failure;
  if (failure === null) return { ...base, success: 1, state: 'configured', reason: null };
  // Failed now or held since: the same words until it is tried again, so that health's last_error_at
  // stays the time of the failure.
  const entry = failed.get(outcome.id);
  const reason =
    entry === undefined
      ? (failure?.reason ?? 'change was not applied')
      : `${entry.reason} (failed ${entry.failures}×; not tried again for ${entry.wait} cycle(s) unless the row changes)`;
  return { ...base, success: 0, state: 'failed', reason };
}

/** SPEC §2: the agent writes netplan_success only when the value changes. */
function changedStatuses(rows: readonly InterfaceRow[], reports: readonly RowReport[]): StatusUpdate[] {
  const current = new Map(rows.map((row) => [row.id, Number(row.netplan_success) === 1 ? 1 : 0]));
  return reports
    .filter((report) => current.get(report.id) !== report.success)
    .map(({ id, success }) => ({ id, success }));
}

function rowFields(report: RowReport) {
  return {
    interface_id: report.id,
    interface_name: report.name ?? undefined,
    mac_address: report.mac ?? undefined,
  };
}

function changeName(change: Change): string {
  return change.kind === 'remove' ? change.file.name : change.nic.name;
}

const MESSAGE_OF: Record<Change['kind'], string> = {
  create: 'interface configured',
  update: 'interface configured',
  reapply: 'interface configured',
  record: 'interface configured',
  adopt: 'interface taken over',
  remove: 'orphaned interface removed',
};

/** One line per change and per failure; a row that stays rejected is logged once, not every cycle. */
function logResults(
  logger: Logger,
  results: readonly ChangeResult[],
  decided: Plan,
  failed: ReadonlyMap<number, FailedChange>,
): void {
  for (const { change, failure } of results) {
    const base = { interface_name: changeName(change), drifts: change.drifts, action: change.kind };
    const ids =
      change.kind === 'remove'
        ? { mac_address: change.file.config?.mac }
        : { interface_id: change.nic.id, mac_address: change.nic.mac };
    if (failure === null) {
      const msg = MESSAGE_OF[change.kind];
      logger.info({ ...base, ...ids }, msg);
    } else {
      const entry = change.kind === 'remove' ? undefined : failed.get(change.nic.id);
      const retry = entry === undefined ? {} : { retry_in_cycles: entry.wait };
      const fields = { ...base, ...ids, error_type: failure.kind, reason: failure.reason, ...retry };
      logger.error(fields, 'interface configuration failed, rolled back');
    }
  }
  for (const name of decided.orphanCandidates) {
    logger.info({ interface_name: name }, 'orphaned interface seen; removed next cycle if still orphaned');
  }
}

/**
 * Tells each entry once: when its key is new, or its reason changed; a key no longer among the entries is
 * forgotten (and `ended` told). So a lasting state is logged when it starts and when it ends.
 */
function logTransitions<T>(
  seen: Map<string, string>,
  entries: readonly T[],
  keyOf: (entry: T) => string,
  reasonOf: (entry: T) => string,
  started: (entry: T) => void,
  ended: (key: string) => void = () => undefined,
): void {
  const now = new Set(entries.map(keyOf));
  for (const entry of entries) {
    if (seen.get(keyOf(entry)) === reasonOf(entry)) continue;
    seen.set(keyOf(entry), reasonOf(entry));
    started(entry);
  }
  for (const key of [...seen.keys()]) {
    if (now.has(key)) continue;
    seen.delete(key);
    ended(key);
  }
}

/** Held configurations: one line when a hold starts (or its reason changes), one when it ends. */
function logHolds(logger: Logger, state: CycleState, held: readonly HeldNic[]): void {
  logTransitions(
    state.holds,
    held,
    (nic) => nic.file.name,
    (nic) => nic.reason,
    (nic) => {
      const fields = {
        interface_name: nic.file.name,
        interface_id: nic.rowId ?? undefined,
        mac_address: nic.file.config?.mac,
        reason: nic.reason,
      };
      logger.warn(fields, 'interface held: its configuration is kept as it is');
    },
    (name) => logger.info({ interface_name: name }, 'interface no longer held'),
  );
}

/** Foreign files: one line when first seen (or its reason changes). */
function logForeign(logger: Logger, state: CycleState, foreign: readonly ForeignFile[]): void {
  logTransitions(
    state.foreign,
    foreign,
    (file) => file.path,
    (file) => file.reason,
    (file) => logger.warn({ path: file.path, reason: file.reason }, 'foreign file left alone'),
  );
}

/**
 * One line per refused row, logged again only when its reason changes, so steady state stays silent.
 * Returns the rows logged now (metrics count the same events).
 */
function logRefusals(logger: Logger, state: CycleState, reports: readonly RowReport[]): RowReport[] {
  const fresh: RowReport[] = [];
  const seen = new Set<number>();
  for (const report of reports) {
    seen.add(report.id);
    if (report.reason === null || report.state === 'failed' || report.state === 'waiting_for_rollout_slot') {
      state.logged.delete(report.id);
      continue;
    }
    if (state.logged.get(report.id) === report.reason) continue;
    state.logged.set(report.id, report.reason);
    fresh.push(report);
    const level = report.state === 'waiting' ? 'warn' : 'error';
    const fields = { ...rowFields(report), field: report.field, state: report.state, reason: report.reason };
    logger[level](fields, 'interface row not configured');
  }
  for (const id of state.logged.keys()) if (!seen.has(id)) state.logged.delete(id);
  return fresh;
}
