import { asAgentError, type ErrorKind } from '../core/errors.js';
import type { Change, NicConfig, OwnedFile } from '../core/types.js';
import type { AddressTool } from '../host/addresses.js';
import type { Backend, ConfigFile } from '../host/backends/backend.js';
import type { BackupFile } from '../host/backups.js';
import type { HostFs } from '../host/host-fs.js';
import { converge, type VerifyDeps } from './verify.js';

export interface TransactionDeps extends VerifyDeps {
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
  const undo: Undo[] = [];
  try {
    await writeBatch(deps, batch, undo);
    await deps.backend.apply();
  } catch (err) {
    const failure = failureOf(err, 'apply');
    for (const change of batch) failures.set(change, failure);
    note(failures, batch, await rollBack(deps, undo, batch));
    return results(changes, failures);
  }
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
    const reason = `database unreachable after apply: ${storeDown.reason}`;
    for (const change of batch) failures.set(change, { kind: 'verify', reason });
  }
  const failed = batch.filter((change) => failures.has(change));
  if (failed.length > 0) note(failures, failed, await rollBack(deps, undo, failed));
  return results(changes, failures);
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

function writesFile(change: Change): change is Extract<Change, { kind: 'create' | 'update' }> {
  return change.kind === 'create' || change.kind === 'update';
}

function fileOf(deps: TransactionDeps, change: Extract<Change, { kind: 'create' | 'update' }>): ConfigFile {
  const { name } = change.nic;
  return { path: deps.backend.pathOf(name), name, content: deps.backend.render(change.nic) };
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
    if (change.kind === 'update') return [{ path: change.previous.path, content: change.previous.content }];
    if (change.kind === 'remove') return [{ path: change.file.path, content: change.file.content }];
    return [];
  });
}

async function writeBatch(deps: TransactionDeps, batch: readonly Change[], undo: Undo[]): Promise<void> {
  for (const change of batch) {
    if (change.kind === 'reapply') continue;
    if (change.kind === 'remove') {
      undo.push({ change, path: change.file.path, before: change.file.content });
      await deps.fs.remove(change.file.path);
      continue;
    }
    const file = fileOf(deps, change);
    undo.push({ change, path: file.path, before: change.kind === 'update' ? change.previous.content : null });
    await deps.fs.writeAtomic(file.path, file.content, 0o600);
  }
}

async function flushRemoved(deps: TransactionDeps, batch: readonly Change[]): Promise<void> {
  for (const change of batch) {
    if (change.kind !== 'remove' || change.liveName === null) continue;
    await deps.addresses.flush(change.liveName).catch(() => undefined);
  }
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
  const failedSet = new Set(failed);
  const steps = [...undo].reverse().filter((step) => failedSet.has(step.change));
  try {
    for (const step of steps) {
      if (step.before === null) await deps.fs.remove(step.path);
      else await deps.fs.writeAtomic(step.path, step.before, 0o600);
    }
    if (steps.length > 0) await deps.backend.apply();
  } catch (err) {
    return `rollback failed: ${failureOf(err, 'apply').reason}`;
  }
  const unconverged = await converge(deps, previousConfigs(failed));
  if (unconverged.size === 0) return null;
  return `rolled back, but the previous state did not come back: ${[...unconverged.values()].join('; ')}`;
}

function previousConfigs(failed: readonly Change[]): NicConfig[] {
  return failed.flatMap((change) => {
    if (change.kind === 'update' && change.previous.config !== null) return [change.previous.config];
    if (change.kind === 'remove' && change.file.config !== null) return [change.file.config];
    return [];
  });
}
