/** The simulated node both demos show: its name, its NICs, and the rows the embedded store starts with. */
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { createSqliteDatabase } from '../store/sqlite.js';

export const DEMO_NODE = 'demo-node';

/** The node's primary NIC: it carries the default route, has no row, and the agent never touches it. */
export const PRIMARY_NIC = { name: 'eth0', mac: 'fa:16:3e:ff:ff:00' };

/** The secondary NICs OpenStack attached, as the kernel names them before the agent renames them. */
export const DEMO_NICS = [
  { name: 'ens4', mac: 'fa:16:3e:00:00:01' },
  { name: 'ens5', mac: 'fa:16:3e:00:00:02' },
  { name: 'ens6', mac: 'fa:16:3e:00:00:03' },
];

/** Creates the embedded store at `path` with one row per secondary NIC: two addressed, one link only. */
export async function seedStore(path: string): Promise<void> {
  await createSqliteDatabase(path);
  const db = new Database(path);
  try {
    const insert = db.prepare(
      'INSERT INTO multi_interface (port_id, subnet_id, macaddress, attached_node_name, address, cidr, mtu)' +
        ' VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    insert.run('port-1', 'subnet-a', DEMO_NICS[0]?.mac, DEMO_NODE, '10.10.0.11', '10.10.0.0/24', 1500);
    insert.run('port-2', 'subnet-b', DEMO_NICS[1]?.mac, DEMO_NODE, '10.20.0.11', '10.20.0.0/24', 9000);
    insert.run('port-3', 'subnet-c', DEMO_NICS[2]?.mac, DEMO_NODE, null, null, 1500);
  } finally {
    db.close();
  }
}

/** The edits a user can try, as `rows` commands: change, delete, a row for a NIC not (yet) there, and a
 * row that points at the primary NIC, which the agent refuses. */
const EXAMPLE_EDITS = [
  'rows set 1 --mtu 9000',
  'rows delete 3',
  `rows add --node ${DEMO_NODE} --mac fa:16:3e:00:00:09 --address 10.40.0.5 --cidr 10.40.0.0/24`,
  `rows add --node ${DEMO_NODE} --mac ${PRIMARY_NIC.mac} --address 10.30.0.5 --cidr 10.30.0.0/24`,
];

const CLI = fileURLToPath(new URL('../cli.js', import.meta.url));

/**
 * The example edits as commands that run as printed in the user's other terminal: `sudo` in front only
 * when the demo runs as root through sudo (that terminal is the user's, the store is root's); a root shell
 * (often without sudo at all, e.g. a fresh Debian) and a user without root get none.
 */
export function editCommands(
  dbPath: string,
  as: { uid: number | undefined; sudoUser: string | undefined } = {
    uid: process.getuid?.(),
    sudoUser: process.env['SUDO_USER'],
  },
): string[] {
  const sudo = as.uid === 0 && as.sudoUser !== undefined && as.sudoUser !== 'root' ? 'sudo ' : '';
  return EXAMPLE_EDITS.map((edit) => `${sudo}node ${CLI} --db sqlite:${dbPath} ${edit}`);
}
