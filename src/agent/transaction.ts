import { posix } from 'node:path';
import { asAgentError, type ErrorKind } from '../core/errors.js';
import { appliesSettings } from '../core/plan.js';
import type { Change, NicConfig, OwnedFile } from '../core/types.js';
import type { AddressTool } from '../host/addresses.js';
import type { ApplySet, Backend, ConfigFile, Trial } from '../host/backends/backend.js';
import type { BackupFile } from '../host/backups.js';
import type { HostFs } from '../host/host-fs.js';
import { converge, type VerifyDeps } from './verify.js';

export interface TransactionDeps extends VerifyDeps {
  /** SPEC §6: `apply` (apply, verify, roll back) or `try` (a trial confirmed only after verification). */
  applyMode: 'apply' | 'try';
  backend: Backend;
  fs: HostFs;
  addresses: AddressTool;
  backup(files: readonly BackupFile[]): Promise<string | null>;
  /** SPEC §6: the database must still be reachable after an apply, or the apply is rolled back. */
  pingStore(): Promise<void>;
}

export interface Failure {
  kind: ErrorKind;
  reason: string;
}

export interface ChangeResult {
  change: Change;
  failure: Failure | null;
}

/** One step that can be undone: the file's content before the transaction (null: it did not exist). */
interface Undo {
  change: Change;
  path: string;
  before: string | null;
}

/**
 * Applies a batch of changes as one transaction (SPEC §6): validate every file with the OS tool, back up,
 * write, apply once, verify; then roll back exactly the changes that failed (restoring the old working
 * file, never deleting it), apply again, and report each change's outcome.
 */
export async function applyTransaction(
  deps: TransactionDeps,
  changes: readonly Change[],
  current: readonly OwnedFile[],
): Promise<ChangeResult[]> {
  const failures = new Map<Change, Failure>();
  const batch = await validateBatch(deps, changes, current, failures);
  if (batch.length === 0) return results(changes, failures);
  await deps.backup(backupsOf(batch));
  const undo = undoOf(deps, batch);
  // Written before the first file: a crash from here on is undone at the next start (recoverJournal).
  await writeJournal(deps.fs, undo);
  try {
    await writeBatch(deps, batch);
  } catch (err) {
    failAll(failures, batch, failureOf(err, 'io'));
    note(failures, batch, await restoreFiles(deps, undo, batch));
    await deps.fs.remove(JOURNAL);
    return results(changes, failures);
  }
  // A rewrite that changes no setting (a header, a takeover of a file equal to its row) is written
  // atomically and done: nothing to apply, so the link is not disturbed.
  const applied = batch.filter(appliesSettings);
  if (applied.length > 0 && deps.applyMode === 'try') await tryBatch(deps, applied, undo, failures);
  else if (applied.length > 0) await applyBatch(deps, applied, undo, failures);
  await deps.fs.remove(JOURNAL);
  return results(changes, failures);
}

/** The transaction journal: the files of the batch in flight as they were before it. */
export const JOURNAL = '/var/lib/multinic/transaction.json';

async function writeJournal(fs: HostFs, undo: readonly Undo[]): Promise<void> {
  const entries = undo.map(({ path, before }) => ({ path, before }));
  await fs.mkdirp(posix.dirname(JOURNAL));
  await fs.writeAtomic(JOURNAL, `${JSON.stringify({ version: 1, entries })}\n`, 0o600);
}

/**
 * Undoes a transaction that a crash cut short (SPEC §6: no unverified file is kept): puts back the files
 * the journal names, as they were before it, and removes the journal. Only the agent's own file paths are
 * accepted. Returns the paths restored, or null when there was no journal.
 */
export async function recoverJournal(fs: HostFs, ownPaths: ReadonlySet<string>): Promise<string[] | null> {
  const text = await fs.readText(JOURNAL);
  if (text === null) return null;
  const entries = parseJournal(text).filter((entry) => ownPaths.has(entry.path));
  for (const entry of [...entries].reverse()) {
    if (entry.before === null) await fs.remove(entry.path);
    else await fs.writeAtomic(entry.path, entry.before, 0o600);
  }
  await fs.remove(JOURNAL);
  return entries.map((entry) => entry.path);
}

function parseJournal(text: string): { path: string; before: string | null }[] {
  try {
    const doc = JSON.parse(text) as { entries?: unknown };
    if (!Array.isArray(doc.entries)) return [];
    return doc.entries.filter(
      (e): e is { path: string; before: string | null } =>
        typeof e === 'object' &&
        e !== null &&
        typeof (e as { path?: unknown }).path === 'string' &&
        ((e as { before?: unknown }).before === null ||
          typeof (e as { before?: unknown }).before === 'string'),
    );
  } catch {
    return [];
  }
}

function failAll(failures: Map<Change, Failure>, changes: readonly Change[], failure: Failure): void {
  for (const change of changes) failures.set(change, failure);
}

/** `netplan apply` once, verify, then restore and re-apply exactly the changes that failed. */
async function applyBatch(
  deps: TransactionDeps,
  batch: readonly Change[],
  undo: readonly Undo[],
  failures: Map<Change, Failure>,
) {
  try {
    await deps.backend.apply(applySetOf(batch));
  } catch (err) {
    failAll(failures, batch, failureOf(err, 'apply'));
    note(failures, batch, await rollBack(deps, undo, batch));
    return;
  }
  await verifyBatch(deps, batch, failures);
  const failed = batch.filter((change) => failures.has(change));
  if (failed.length > 0) note(failures, failed, await rollBack(deps, undo, failed));
}

/**
 * Safe mode: a trial that the OS tool reverts unless confirmed, confirmed only when every change of the
 * round verified. A revert undoes the whole round, so the changes that did verify get a second round
 * of their own without the failed ones.
 */
async function tryBatch(
  deps: TransactionDeps,
  batch: readonly Change[],
  undo: readonly Undo[],
  failures: Map<Change, Failure>,
) {
  let round = [...batch];
  for (let attempt = 0; attempt < 2 && round.length > 0; attempt += 1) {
    const failed = await tryRound(deps, round, failures);
    if (failed.length === 0) return;
    note(failures, failed, await restoreFiles(deps, undo, failed));
    const unconverged = await converge(deps, previousConfigs(failed));
    if (unconverged.size > 0)
      note(
        failures,
        failed,
        `reverted, but the previous state did not come back: ${[...unconverged.values()].join('; ')}`,
      );
    round = round.filter((change) => !failures.has(change));
  }
  // Changes left after two rounds were reverted twice through no fault of their own: report it.
  failAll(failures, round, {
    kind: 'apply',
    reason: 'reverted with a failing batch twice; retried next cycle',
  });
  note(failures, round, await restoreFiles(deps, undo, round));
}

/** One trial: returns the changes that failed (their runtime configuration is already reverted). */
async function tryRound(
  deps: TransactionDeps,
  round: readonly Change[],
  failures: Map<Change, Failure>,
): Promise<Change[]> {
  let trial: Trial;
  try {
    trial = await deps.backend.startTrial(applySetOf(round));
  } catch (err) {
    failAll(failures, round, failureOf(err, 'apply'));
    return [...round];
  }
  await verifyBatch(deps, round, failures);
  const failed = round.filter((change) => failures.has(change));
  try {
    if (failed.length === 0) await trial.confirm();
    else await trial.revert();
  } catch (err) {
    const failure = failureOf(err, 'apply');
    if (failed.length === 0) {
      failAll(failures, round, failure);
      return [...round];
    }
    note(failures, failed, failure.reason);
  }
  return failed;
}

/** Verification of an applied batch (SPEC §6): every NIC as desired, and the database still reachable. */
async function verifyBatch(deps: TransactionDeps, batch: readonly Change[], failures: Map<Change, Failure>) {
  await flushRemoved(deps, batch);
  const unconverged = await converge(deps, targetsOf(batch));
  for (const change of batch) {
    const problem = change.kind === 'remove' ? undefined : unconverged.get(change.nic.name);
    if (problem !== undefined)
      failures.set(change, { kind: 'verify', reason: `verification failed: ${problem}` });
  }
  const storeDown = await deps.pingStore().then(
    () => null,
    (err: unknown) => failureOf(err, 'db_connection'),
  );
  if (storeDown !== null) {
    failAll(failures, batch, {
      kind: 'verify',
      reason: `database unreachable after apply: ${storeDown.reason}`,
    });
  }
}

/** Appends what happened during the rollback to the reason of each failed change. */
function note(failures: Map<Change, Failure>, failed: readonly Change[], problem: string | null): void {
  if (problem === null) return;
  for (const change of failed) {
    const failure = failures.get(change);
    if (failure !== undefined) failures.set(change, { ...failure, reason: `${failure.reason}; ${problem}` });
  }
}

function results(changes: readonly Change[], failures: ReadonlyMap<Change, Failure>): ChangeResult[] {
  return changes.map((change) => ({ change, failure: failures.get(change) ?? null }));
}

function failureOf(err: unknown, fallback: ErrorKind): Failure {
  const error = asAgentError(err, fallback, 'unexpected error');
  const stderr = typeof error.details.stderr === 'string' ? error.details.stderr.trim() : '';
  return { kind: error.kind, reason: stderr === '' ? error.message : `${error.message}: ${stderr}` };
}

type WritingChange = Extract<Change, { kind: 'create' | 'update' | 'record' | 'adopt' }>;

function writesFile(change: Change): change is WritingChange {
  return change.kind !== 'reapply' && change.kind !== 'remove';
}

function fileOf(deps: TransactionDeps, change: WritingChange): ConfigFile {
  const { name } = change.nic;
  return { path: deps.backend.pathOf(name), name, content: deps.backend.render(change.nic, change.nic.id) };
}

/**
 * Validates the whole set of agent files as it will be. A file the tool names is dropped from the batch
 * (its row fails with the tool's message) and the rest is validated again; an error that names no file of
 * the batch fails the batch.
 */
async function validateBatch(
  deps: TransactionDeps,
  changes: readonly Change[],
  current: readonly OwnedFile[],
  failures: Map<Change, Failure>,
): Promise<Change[]> {
  let batch = changes.filter((change) => !failures.has(change));
  while (batch.some(writesFile)) {
    const touched = new Set(
      batch.map((c) => (c.kind === 'remove' ? c.file.path : deps.backend.pathOf(c.nic.name))),
    );
    const kept = current.filter((file) => !touched.has(file.path));
    const verdict = await deps.backend.validate([
      ...kept,
      ...batch.filter(writesFile).map((c) => fileOf(deps, c)),
    ]);
    if (verdict.ok) return batch;
    const culprit = batch.find((c) => writesFile(c) && c.nic.name === verdict.name);
    const targets = culprit === undefined ? batch : [culprit];
    for (const change of targets) failures.set(change, { kind: 'validation', reason: verdict.message });
    batch = batch.filter((change) => !failures.has(change));
  }
  return batch;
}

function backupsOf(batch: readonly Change[]): BackupFile[] {
  return batch.flatMap((change) => {
    if (change.kind === 'update' || change.kind === 'record' || change.kind === 'adopt')
      return [{ path: change.previous.path, content: change.previous.content }];
    if (change.kind === 'remove') return [{ path: change.file.path, content: change.file.content }];
    return [];
  });
}

/** Every file a batch touches, with its content before the batch (null: it did not exist). */
function undoOf(deps: TransactionDeps, batch: readonly Change[]): Undo[] {
  return batch.flatMap((change): Undo[] => {
    if (change.kind === 'reapply') return [];
    if (change.kind === 'remove') return [{ change, path: change.file.path, before: change.file.content }];
    const before = change.kind === 'create' ? null : change.previous.content;
    return [{ change, path: deps.backend.pathOf(change.nic.name), before }];
  });
}

async function writeBatch(deps: TransactionDeps, batch: readonly Change[]): Promise<void> {
  for (const change of batch) {
    if (change.kind === 'reapply') continue;
    if (change.kind === 'remove') await deps.fs.remove(change.file.path);
    else {
      const file = fileOf(deps, change);
      await deps.fs.writeAtomic(file.path, file.content, 0o600);
    }
  }
}

async function flushRemoved(deps: TransactionDeps, batch: readonly Change[]): Promise<void> {
  for (const change of batch) {
    if (change.kind !== 'remove' || change.liveName === null) continue;
    await deps.addresses.flush(change.liveName).catch(() => undefined);
  }
}

/** The configurations a batch puts in place and the names it removes. */
function applySetOf(batch: readonly Change[]): ApplySet {
  return {
    configure: targetsOf(batch),
    remove: batch.flatMap((change) => (change.kind === 'remove' ? [change.file.name] : [])),
  };
}

/** What undoing failed changes puts back: previous configurations, and removal of NICs that were new. */
function rollbackSetOf(failed: readonly Change[]): ApplySet {
  return {
    configure: previousConfigs(failed),
    remove: failed.flatMap((change) => (change.kind === 'create' ? [change.nic.name] : [])),
  };
}

function targetsOf(batch: readonly Change[]): NicConfig[] {
  return batch.flatMap((change) => (change.kind === 'remove' ? [] : [change.nic]));
}

/**
 * Restores the files of the failed changes as they were before the transaction, applies again and waits
 * for the previous configuration to be back on the links. Returns what went wrong on the way back, for the
 * failed rows' reasons; it does not throw, since those rows are already failed.
 */
async function rollBack(
  deps: TransactionDeps,
  undo: readonly Undo[],
  failed: readonly Change[],
): Promise<string | null> {
  const restored = await restoreFiles(deps, undo, failed);
  if (restored !== null) return restored;
  try {
    if (undo.some((step) => failed.includes(step.change))) await deps.backend.apply(rollbackSetOf(failed));
  } catch (err) {
    return `rollback failed: ${failureOf(err, 'apply').reason}`;
  }
  const unconverged = await converge(deps, previousConfigs(failed));
  if (unconverged.size === 0) return null;
  return `rolled back, but the previous state did not come back: ${[...unconverged.values()].join('; ')}`;
}

/** Puts the files of the given changes back as they were before the transaction. */
async function restoreFiles(
  deps: TransactionDeps,
  undo: readonly Undo[],
  changes: readonly Change[],
): Promise<string | null> {
  const steps = [...undo].reverse().filter((step) => changes.includes(step.change));
  try {
    for (const step of steps) {
      if (step.before === null) await deps.fs.remove(step.path);
      else await deps.fs.writeAtomic(step.path, step.before, 0o600);
    }
    return null;
  } catch (err) {
    return `restoring the previous files failed: ${failureOf(err, 'io').reason}`;
  }
}

function previousConfigs(failed: readonly Change[]): NicConfig[] {
  return failed.flatMap((change) => {
    if ((change.kind === 'update' || change.kind === 'adopt') && change.previous.config !== null)
      return [change.previous.config];
    if (change.kind === 'remove' && change.file.config !== null) return [change.file.config];
    return [];
  });
}
