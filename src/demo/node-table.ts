/** The demo's table of the simulated node: each NIC as the kernel shows it, with its row and status. */
import { statusText, textTable } from '../text-table.js';
import type { Link } from './ip-links.js';

/** A row of the embedded store, as the table needs it. */
export interface StatusRow {
  id: number;
  macaddress: string;
  netplan_success: number | null;
}

export interface NodeView {
  links: readonly Link[];
  rows: readonly StatusRow[];
  /** File names in the node's /etc/netplan. */
  files: readonly string[];
  /** The agent's state per row id (health JSON `interfaces[].state`); empty before it reports. */
  states: ReadonlyMap<number, string>;
  /** The primary NIC's name. */
  primary: string;
}

/**
 * One line per NIC of the node (veth peers and lo left out): name, MAC, IPv4 addresses and MTU as the
 * kernel reports them, the agent's file for it, and the row for that MAC with its netplan_success and,
 * when it is not simply configured, the agent's state for it (protected, waiting, invalid, failed…).
 * The primary NIC comes first, then the others by MAC, then rows whose MAC no NIC has.
 */
export function nodeTable(view: NodeView): string[] {
  const mac = (row: StatusRow) => row.macaddress.toLowerCase().replaceAll('-', ':');
  const byMac = new Map(view.rows.map((row) => [mac(row), row]));
  const rank = (link: Link) => (link.name === view.primary ? 0 : 1);
  const nics = view.links
    .filter((link) => link.name !== 'lo' && !link.name.startsWith('p-'))
    .sort((a, b) => rank(a) - rank(b) || a.mac.localeCompare(b.mac));
  const status = (row: StatusRow) => {
    const state = view.states.get(row.id);
    const text = statusText(row.netplan_success);
    return state === undefined || state === 'configured' ? text : `${text}, ${state}`;
  };
  const linkCells = nics.map((link) => {
    const row = byMac.get(link.mac.toLowerCase());
    return [
      link.name,
      link.mac,
      link.ipv4.map((a) => `${a.ip}/${a.prefix}`).join(',') || '-',
      String(link.mtu),
      view.files.find((file) => file.includes(`-${link.name}.`)) ?? '-',
      row === undefined ? '-' : String(row.id),
      row !== undefined ? status(row) : link.name === view.primary ? 'primary, never touched' : 'no row',
    ];
  });
  const macs = new Set(nics.map((link) => link.mac.toLowerCase()));
  const rowCells = view.rows
    .filter((row) => !macs.has(mac(row)))
    .map((row) => ['-', row.macaddress, '-', '-', '-', String(row.id), status(row)]);
  return textTable([['NIC', 'MAC', 'ADDRESS', 'MTU', 'FILE', 'ROW', 'STATUS'], ...linkCells, ...rowCells]);
}
