/**
 * `multinic-agent rows list|add|set|delete`: edits the desired state in the embedded store (DB_URL=sqlite:),
 * as the OpenStack-side controller would in MySQL, so a developer can watch the agent follow. Every row
 * written passes the agent's own validation first. On MySQL the table is the controller's (and the agent's
 * grant only reads it), so the command refuses.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { ROWS_HELP, ROWS_OPTIONS } from './cli-usage.js';
import type { DbSettings } from './config.js';
import { validateRow } from './core/validate.js';
import type { InterfaceRow } from './core/types.js';
import { createSqliteDatabase } from './store/sqlite.js';
import { statusText, textTable } from './text-table.js';

/** What the command reports: the lines to print, and the exit code. */
export interface RowsResult {
  code: number;
  out: string[];
  err: string[];
}

interface StoredRow {
  id: number;
  port_id: string;
  subnet_id: string;
  macaddress: string;
  attached_node_name: string | null;
  netplan_success: number | null;
  address: string | null;
  cidr: string | null;
  mtu: number | null;
  deleted_at: string | null;
}

class UsageError extends Error {}
class RowError extends Error {}
class InvalidRow extends Error {}

export async function runRows(
  args: readonly string[],
  db: DbSettings,
  nodeName: string,
): Promise<RowsResult> {
  const out: string[] = [];
  try {
    if (db.kind !== 'sqlite')
      throw new UsageError(
        'rows edits the embedded store only (DB_URL=sqlite:PATH); in MySQL the table is the controller’s',
      );
    await rows(args, db.path, nodeName, out);
    return { code: 0, out, err: [] };
  } catch (err) {
    if (err instanceof UsageError) return { code: 2, out, err: [err.message, '', ROWS_HELP] };
    if (err instanceof InvalidRow) return { code: 2, out, err: [err.message] };
    if (err instanceof RowError) return { code: 1, out, err: [err.message] };
    return { code: 1, out, err: [`database error: ${err instanceof Error ? err.message : String(err)}`] };
  }
}

async function rows(args: readonly string[], path: string, nodeName: string, out: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options: ROWS_OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const { values, positionals } = parsed;
  const [verb, ...rest] = positionals;
  const allowed: Record<string, readonly string[]> = {
    list: ['all'],
    add: ['mac', 'address', 'cidr', 'mtu', 'node'],
    set: ['mac', 'address', 'cidr', 'mtu', 'node'],
    delete: [],
  };
  const options = verb === undefined ? undefined : allowed[verb];
  if (options === undefined) throw new UsageError(`unknown rows command: ${verb ?? '(none)'}`);
  const extra = Object.keys(values).filter((name) => !options.includes(name));
  if (extra.length > 0) throw new UsageError(`rows ${verb} takes no --${extra.join(', --')}`);
  const wantsId = verb === 'set' || verb === 'delete';
  if (rest.length !== (wantsId ? 1 : 0))
    throw new UsageError(wantsId ? `rows ${verb} takes one row id` : `rows ${verb} takes no arguments`);

  if (verb === 'add' && !existsSync(path)) {
    await createSqliteDatabase(path);
    out.push(`created ${path}`);
  }
  if (!existsSync(path)) throw new RowError(`no database at ${path} (rows add creates it)`);
  const db = new Database(path, { fileMustExist: true, timeout: 5_000 });
  try {
    if (verb === 'list') return list(db, values.all === true, out);
    if (verb === 'add') return add(db, values, nodeName, out);
    const id = rowId(rest[0] ?? '');
    if (verb === 'set') return set(db, id, values, out);
    return remove(db, id, out);
  } finally {
    db.close();
  }
}

type Values = Partial<Record<'mac' | 'address' | 'cidr' | 'mtu' | 'node', string>>;

function add(db: Database.Database, values: Values, nodeName: string, out: string[]): void {
  if (values.mac === undefined) throw new UsageError('rows add needs --mac');
  const row = {
    port_id: randomUUID(),
    subnet_id: randomUUID(),
    macaddress: values.mac,
    attached_node_name: values.node ?? nodeName,
    address: values.address ?? null,
    cidr: values.cidr ?? null,
    mtu: values.mtu === undefined ? 1500 : mtu(values.mtu),
  };
  check({ id: 0, netplan_success: 0, ...row });
  const result = db
    .prepare(
      'INSERT INTO multi_interface (port_id, subnet_id, macaddress, attached_node_name, address, cidr, mtu)' +
        ' VALUES (@port_id, @subnet_id, @macaddress, @attached_node_name, @address, @cidr, @mtu)',
    )
    .run(row);
  out.push(`added row ${Number(result.lastInsertRowid)} for node ${row.attached_node_name}`);
}

function set(db: Database.Database, id: number, values: Values, out: string[]): void {
  const current = find(db, id);
  const nullable = (value: string | undefined, old: string | null) =>
    value === undefined ? old : value === 'none' ? null : value;
  const next: StoredRow = {
    ...current,
    macaddress: values.mac ?? current.macaddress,
    attached_node_name: values.node ?? current.attached_node_name,
    address: nullable(values.address, current.address),
    cidr: nullable(values.cidr, current.cidr),
    mtu: values.mtu === undefined ? current.mtu : mtu(values.mtu),
  };
  if (Object.keys(values).length === 0) throw new UsageError('rows set needs at least one change');
  check({ ...next, netplan_success: 0 });
  db.prepare(
    'UPDATE multi_interface SET macaddress = @macaddress, attached_node_name = @attached_node_name,' +
      ' address = @address, cidr = @cidr, mtu = @mtu WHERE id = @id',
  ).run(next);
  out.push(`changed row ${id}`);
}

function remove(db: Database.Database, id: number, out: string[]): void {
  const current = find(db, id);
  if (current.deleted_at !== null) throw new RowError(`row ${id} is already deleted (${current.deleted_at})`);
  db.prepare('UPDATE multi_interface SET deleted_at = CURRENT_TIMESTAMP WHERE id = ?').run(id);
  out.push(`deleted row ${id}`);
}

function list(db: Database.Database, all: boolean, out: string[]): void {
  const where = all ? '' : ' WHERE deleted_at IS NULL';
  const stored = db.prepare(`SELECT * FROM multi_interface${where} ORDER BY id`).all() as StoredRow[];
  const header = ['ID', 'NODE', 'MAC', 'ADDRESS', 'MTU', 'STATUS', ...(all ? ['DELETED'] : [])];
  const table = stored.map((row) => [
    String(row.id),
    row.attached_node_name ?? '-',
    row.macaddress,
    row.address === null ? 'link only' : `${row.address} (${row.cidr ?? 'no cidr'})`,
    row.mtu === null ? '-' : String(row.mtu),
    row.deleted_at === null ? statusText(row.netplan_success) : 'deleted',
    ...(all ? [row.deleted_at ?? '-'] : []),
  ]);
  if (table.length === 0) {
    out.push('no rows');
    return;
  }
  out.push(...textTable([header, ...table]));
}

function find(db: Database.Database, id: number): StoredRow {
  const row = db.prepare('SELECT * FROM multi_interface WHERE id = ?').get(id) as StoredRow | undefined;
  if (row === undefined) throw new RowError(`no row ${id}`);
  return row;
}

function rowId(text: string): number {
  if (!/^[1-9]\d{0,9}$/.test(text)) throw new UsageError(`row id must be a positive integer, got "${text}"`);
  return Number(text);
}

function mtu(text: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new UsageError(`--mtu must be an integer, got "${text}"`);
  return Number(text);
}

// The agent's own rule: a row it would refuse is not written.
function check(row: InterfaceRow): void {
  const verdict = validateRow(row);
  if (!verdict.ok)
    throw new InvalidRow(
      `refused, the agent would skip it: ${verdict.problem.field}: ${verdict.problem.reason}`,
    );
}
