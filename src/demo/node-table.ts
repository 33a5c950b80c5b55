/** The demo's table of the simulated node: each NIC as the kernel shows it, with its row and status. */
import { statusText, textTable } from '../text-table.js';
import type { Link } from './ip-links.js';

/** A row of the embedded store, as the table needs it. */
export interface StatusRow {
  id: number;
  macaddress: string;
  netplan_success: number | null;
}

/**
 * One line per NIC of the node (veth peers and lo left out): name, MAC, IPv4 addresses and MTU as the
 * kernel reports them, the agent's file for it (from `files`, the names in /etc/netplan), and the row for
 * that MAC with its netplan_success. The primary NIC comes first, then the others by MAC.
 */
export function nodeTable(links: Link[], rows: StatusRow[], files: string[], primary: string): string[] {
  const byMac = new Map(rows.map((row) => [row.macaddress.toLowerCase().replaceAll('-', ':'), row]));
  const nics = links
    .filter((link) => link.name !== 'lo' && !link.name.startsWith('p-'))
    .map((link) => ({ link, row: byMac.get(link.mac.toLowerCase()) }))
    .sort((a, b) => rank(a.link) - rank(b.link) || a.link.mac.localeCompare(b.link.mac));
  function rank(link: Link): number {
    return link.name === primary ? 0 : 1;
  }
  const cells = nics.map(({ link, row }) => [
    link.name,
    link.mac,
    link.ipv4.map((a) => `${a.ip}/${a.prefix}`).join(',') || '-',
    String(link.mtu),
    files.find((file) => file.includes(`-${link.name}.`)) ?? '-',
    row === undefined ? '-' : String(row.id),
    row !== undefined
      ? statusText(row.netplan_success)
      : link.name === primary
        ? 'primary, never touched'
        : 'no row',
  ]);
  return textTable([['NIC', 'MAC', 'ADDRESS', 'MTU', 'FILE', 'ROW', 'STATUS'], ...cells]);
}
