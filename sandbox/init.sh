#!/bin/bash
# PID 1 of a multinic test sandbox. Started by sandbox.ts as
#   unshare --net --mount --pid --fork --mount-proc --uts --kill-child init.sh STATE_DIR HOSTNAME [NAME=MAC...]
# With SANDBOX_NETWORK_MANAGER=1 in its environment it also runs a private D-Bus system bus and
# NetworkManager (network-manager.sh), after the NICs exist.
# It builds a machine of its own out of the namespaces unshare gave it, prints READY, then waits.
# Everything started in the sandbox dies with this script (the kernel kills a pid namespace whose
# PID 1 exits), and the mounts below exist only in the sandbox's mount namespace.
set -euo pipefail

state_dir=$1
hostname=$2
shift 2
here=$(dirname "$(readlink -f "$0")")

# Nothing mounted here may propagate back to the machine. `-n` keeps mount(8) from creating
# /run/mount/utab on the machine's /run before our private /run is in place.
mount -n --make-rprivate /

# A private /run: netplan renders into /run/systemd/network, networkd keeps its state in
# /run/systemd/netif, the stand-ins in bin/ log to /run/sandbox, and /run/sandbox/tmp is the TMPDIR of
# every command sandbox.ts runs (netplan try keeps its backups there).
mount -n -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/sandbox/tmp /run/systemd/netif
touch /run/sandbox/calls.log
chown systemd-network:systemd-network /run/systemd/netif

# sysfs shows the network namespace of whoever mounts it, so mount a fresh one to see the sandbox's
# links. Read-only, because networkd waits for udev to initialise links when sysfs is writable.
mount -n -t sysfs -o ro sysfs /sys

# /etc and /var/lib become throw-away overlays (their upper layer lives in our /run): whatever runs
# in the sandbox may write there — an agent bug, a test faking /etc/os-release — and the machine's
# own files stay as they are.
ephemeral() {
  local dir=$1 layer=/run/sandbox/overlay${1//\//_}
  mkdir -p "$layer/upper" "$layer/work"
  mount -n -t overlay overlay -o "lowerdir=$dir,upperdir=$layer/upper,workdir=$layer/work" "$dir"
}
ephemeral /etc
ephemeral /var/lib

# The private host root: the test's directories over /etc/netplan and /var/lib/multinic, so that the
# real netplan inside reads the test's files, and the test sees what the sandbox wrote there.
mkdir -p /etc/netplan /var/lib/multinic
mount -n --bind "$state_dir/root/etc/netplan" /etc/netplan
mount -n --bind "$state_dir/root/var/lib/multinic" /var/lib/multinic

hostname "$hostname"
ip link set lo up
for nic in "$@"; do
  "$here/add-nic.sh" "${nic%%=*}" "${nic#*=}"
done

if [[ ${SANDBOX_NETWORK_MANAGER:-} == 1 ]]; then
  # The test's directory over /etc/NetworkManager (the agent's keyfiles, read back by the test), a fresh
  # state directory, and a system bus of the sandbox's own in its private /run.
  mkdir -p /etc/NetworkManager /var/lib/NetworkManager /run/sandbox/NetworkManager-state /run/dbus
  mount -n --bind "$state_dir/root/etc/NetworkManager" /etc/NetworkManager
  mount -n --bind /run/sandbox/NetworkManager-state /var/lib/NetworkManager
  dbus-daemon --system --fork
  "$here/network-manager.sh" start
fi

echo READY

# Wait until the test process closes our stdin: it called stop(), or it died. Either way this
# script ends, and with it the whole sandbox. Bash reaps the orphans (networkd after a restart)
# that the kernel re-parents to PID 1 while it waits here.
while read -r _; do :; done

# The test process died without stop() (stop() kills us first and deletes the directory itself).
rm -rf -- "$state_dir"
