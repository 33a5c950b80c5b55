/**
 * `multinic-agent fleet`: the whole fleet from the agents' own table (SPEC §10), as a table or JSON, and
 * `fleet release NODE`, which gives a node's rollout slot back (after a failed change was understood).
 */
import type { Config } from './config.js';
import { createFleetStore, type FleetRow } from './store/fleet.js';
import { textTable } from './text-table.js';

export interface FleetIo {
  out(line: string): void;
  err(line: string): void;
}

/** What a node is doing, in a word: the column an operator reads first. */
export function nodeState(row: FleetRow): string {
  if (row.slot === 'failed' && row.slotCounts) return 'failed (holds a slot)';
  if (row.slot === 'changing' && row.slotCounts) return 'changing';
  if (row.waiting > 0 && row.failed === 0 && row.refused === 0) return 'waiting';
  if (row.failed > 0) return 'failed';
  if (row.refused > 0) return 'refused rows';
  return 'converged';
}

export function fleetTable(rows: readonly FleetRow[]): string[] {
  return textTable([
    ['NODE', 'STATE', 'CONFIGURED', 'FAILED', 'WAITING', 'REFUSED', 'SLOT', 'LAST CYCLE', 'VERSION', 'WHY'],
    ...rows.map((row) => [
      row.node,
      nodeState(row),
      String(row.configured),
      String(row.failed),
      String(row.waiting),
      String(row.refused),
      row.slot === null ? '-' : `${row.slot}${row.slotCounts ? '' : ' (not counted)'}`,
      row.lastCycleAt ?? '-',
      row.version,
      row.slotReason ?? row.lastError ?? '-',
    ]),
  ]);
}

/** `fleet [--json]`, `fleet release NODE`. Exit 0 done, 1 a database error, 2 invalid use. */
export async function fleetCommand(
  positionals: readonly string[],
  json: boolean,
  config: Config,
  io: FleetIo,
): Promise<number> {
  if (config.db.kind !== 'mysql') {
    io.err('fleet needs MySQL/MariaDB: the embedded store serves one node and keeps no fleet table');
    return 2;
  }
  const [verb, node, ...extra] = positionals;
  if (verb !== undefined && (verb !== 'release' || node === undefined || extra.length > 0)) {
    io.err('usage: multinic-agent fleet [--json] | fleet release NODE');
    return 2;
  }
  const fleet = createFleetStore(config.db);
  try {
    if (verb === 'release' && node !== undefined) {
      await fleet.release(node);
      io.out(`released the rollout slot of ${node} (if it held one)`);
      return 0;
    }
    const rows = await fleet.readFleet();
    if (json) io.out(JSON.stringify(rows, null, 2));
    else for (const line of fleetTable(rows)) io.out(line);
    return 0;
  } catch (err) {
    io.err(`fleet: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}
