/**
 * What both stores do with the rows their one SELECT returned: this node's rows (the exact node-name rule
 * applied to the index-friendly prefilter's answer), and where the other rows that owned files name are.
 */
import { AgentError } from '../core/errors.js';
import { nodeNameMatches } from '../core/node-name.js';
import type { InterfaceRow, RowElsewhere } from '../core/types.js';

/** The answer of `DesiredStore.rowsForNode`. */
export interface NodeRows {
  /** This node's rows, sorted by id, unvalidated. */
  rows: InterfaceRow[];
  /** Rows asked for by id (owned files name them) that are not this node's: attached elsewhere or nowhere. */
  elsewhere: RowElsewhere[];
}

/**
 * Splits the rows of the SELECT. A row without an integer id cannot be matched with the file that
 * configures it, so a result with one is refused as a whole: the cycle fails and the host is kept.
 */
export function splitNodeRows(
  raw: readonly Record<string, unknown>[],
  nodeName: string,
  ownedIds: readonly number[],
): NodeRows {
  const rows: InterfaceRow[] = [];
  const elsewhere: RowElsewhere[] = [];
  for (const row of raw) {
    const id = row['id'];
    if (typeof id !== 'number' || !Number.isSafeInteger(id)) {
      throw new AgentError('db_query', 'database query returned a row without an integer id', {
        columns: Object.keys(row),
      });
    }
    const node = row['attached_node_name'];
    if (typeof node === 'string' && nodeNameMatches(node, nodeName)) rows.push(toInterfaceRow(row, id));
    else if (ownedIds.includes(id)) elsewhere.push({ id, node: typeof node === 'string' ? node : null });
  }
  rows.sort((a, b) => a.id - b.id);
  return { rows, elsewhere };
}

function toInterfaceRow(row: Record<string, unknown>, id: number): InterfaceRow {
  return {
    id,
    port_id: row['port_id'],
    subnet_id: row['subnet_id'],
    macaddress: row['macaddress'],
    attached_node_name: row['attached_node_name'],
    netplan_success: Number(row['netplan_success']),
    address: row['address'],
    cidr: row['cidr'],
    mtu: row['mtu'],
  };
}
