/**
 * The fleet's table: `nodes` nodes × 10 ports, as the controller would have it (node names `worker-NNNNN`,
 * one /24 per port index, every row configured).
 */
import { randomUUID } from 'node:crypto';
import type { Connection } from 'mysql2/promise';

export const PORTS_PER_NODE = 10;

export function nodeName(n: number): string {
  return `worker-${String(n).padStart(5, '0')}`;
}

/** fa:16:3e + 3 bytes from the row number: unique over 16 M rows. */
export function fleetMac(row: number): string {
  const hex = row.toString(16).padStart(6, '0');
  return `fa:16:3e:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`;
}

/**
 * Ids of node `n`'s rows in a table loadFleet filled (ids from 1): the ids its owned files name, which
 * the agent passes to every rowsForNode.
 */
export function fleetRowIds(n: number, nodes: number): number[] {
  return Array.from({ length: PORTS_PER_NODE }, (_, port) => port * nodes + n + 1);
}

/** Inserts nodes × 10 rows in batches; rows of one node are not adjacent by id (ports attach over time). */
export async function loadFleet(admin: Connection, nodes: number): Promise<number> {
  const total = nodes * PORTS_PER_NODE;
  const batch = 2_000;
  for (let start = 0; start < total; start += batch) {
    const values: unknown[][] = [];
    for (let row = start; row < Math.min(total, start + batch); row += 1) {
      // Row r belongs to node r mod nodes: a node's ten rows are spread over the whole table.
      const node = row % nodes;
      const port = Math.floor(row / nodes);
      values.push([
        randomUUID(),
        randomUUID(),
        fleetMac(row),
        nodeName(node),
        1,
        `10.${port}.${Math.floor(node / 250)}.${(node % 250) + 2}`,
        `10.${port}.0.0/16`,
        1500,
      ]);
    }
    await admin.query(
      'INSERT INTO multi_interface (port_id, subnet_id, macaddress, attached_node_name, netplan_success,' +
        ' address, cidr, mtu) VALUES ?',
      [values],
    );
  }
  return total;
}
