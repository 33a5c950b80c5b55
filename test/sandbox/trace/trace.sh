#!/bin/bash
# Test-only tracer for end-to-end tests of the agent (test/sandbox/agent.ts puts this directory first on
# the agent's PATH, not on the harness's): `netplan`, `ip` and `nmcli` are links to this script. It logs
# the call, and the name of the process that made it, to the sandbox's call log, then runs the real
# command (from /usr/sbin, else /usr/bin).
name=$(basename "$0")
echo "$name $* [parent: $(cat "/proc/$PPID/comm" 2>/dev/null)]" >>/run/sandbox/calls.log
real=/usr/sbin/$name
[[ -x $real ]] || real=/usr/bin/$name
exec "$real" "$@"
