#!/usr/bin/env bash
# Try multinic-agent on this machine without changing anything: creates a scratch database on the local
# MariaDB (127.0.0.1:3306, root, empty password, as on the project's dev machines), adds example rows for
# this node, and prints the agent's plan against a temporary host root. Nothing on the host is touched:
# `plan` only reads, and the example MACs are not on this machine, so the agent reports it waits for them.
# The scratch database is dropped at the end (TRY_KEEP_DB=1 keeps it, to look at it or run more commands).
set -euo pipefail
cd "$(dirname "$0")/.."

DB_NAME=${TRY_DB_NAME:-multinic_try}
NODE=$(hostname)
root=$(mktemp -d)
created=
finish() {
  rm -rf "$root"
  [ -n "$created" ] || return 0
  if [ "${TRY_KEEP_DB:-}" = 1 ]; then
    echo "--- kept database $DB_NAME; drop it with: mariadb -uroot -h127.0.0.1 -e 'DROP DATABASE \`$DB_NAME\`'"
  else
    mariadb -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS \`$DB_NAME\`"
    echo "--- dropped database $DB_NAME (TRY_KEEP_DB=1 keeps it)"
  fi
}
trap finish EXIT

[ -f dist/cli.js ] || npm run build >/dev/null
mkdir -p "$root/etc/netplan" "$root/proc/net"
printf 'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="22.04"\n' >"$root/etc/os-release"
printf 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n' >"$root/proc/net/route"

mariadb -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS \`$DB_NAME\`; CREATE DATABASE \`$DB_NAME\`"
created=1
mariadb -uroot -h127.0.0.1 "$DB_NAME" <sql/schema.sql
mariadb -uroot -h127.0.0.1 "$DB_NAME" <<SQL
INSERT INTO multi_interface (port_id, subnet_id, macaddress, attached_node_name, address, cidr, mtu) VALUES
  ('port-a', 'subnet-a', 'fa:16:3e:5e:62:3e', '$NODE', '192.168.1.100', '192.168.1.0/24', 1500),
  ('port-b', 'subnet-b', 'FA-16-3E-00-00-02', '$NODE', NULL, NULL, 9000),
  ('port-c', 'subnet-c', 'fa:16:3e:00:00:03', '$NODE', '10.0.1.500', '10.0.1.0/24', 1500);
SQL

echo "--- rows for node $NODE in database $DB_NAME:"
mariadb -uroot -h127.0.0.1 "$DB_NAME" -e 'SELECT id, macaddress, address, cidr, mtu, netplan_success FROM multi_interface'
echo "--- multinic-agent plan:"
set +e
DB_HOST=127.0.0.1 DB_USER=root DB_PASSWORD='' DB_NAME="$DB_NAME" NODE_NAME="$NODE" \
  HOST_ROOT="$root" COMMAND_PREFIX='' PROC_NET_ROUTE="$root/proc/net/route" \
  node dist/cli.js plan
code=$?
set -e
echo "--- exit code $code (0: in sync, 2: changes pending)"
