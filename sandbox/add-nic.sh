#!/bin/bash
# Runs inside the sandbox: add-nic.sh NAME MAC
# Adds a virtual NIC the way OpenStack hot-plugs a port: a veth NAME with the chosen MAC. Its peer
# p-NAME is up, so NAME gets a carrier as soon as something brings it up.
set -euo pipefail

name=$1
mac=$2
ip link add "$name" address "$mac" type veth peer name "p-$name"
ip link set "p-$name" up
