#!/bin/bash
# Runs inside a sandbox started with { networkManager: true }: network-manager.sh start|stop|running
# NetworkManager 1.42 as a plain process on the sandbox's private system bus, with the keyfile plugin
# only and nothing that reaches beyond the sandbox (no DNS, no hostname, no default connections).
# init.sh starts it; the systemctl stand-in restarts it when the agent asks (its last resort).
set -euo pipefail

pid_file=/run/sandbox/NetworkManager.pid
log=/run/sandbox/NetworkManager.log
conf=/run/sandbox/NetworkManager.conf

running() {
  [[ -f $pid_file ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

stop() {
  running || return 0
  local pid
  pid=$(cat "$pid_file")
  kill "$pid"
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pid_file"
}

start() {
  running && return 0
  if [[ ! -f $conf ]]; then
    cat >"$conf" <<'CONF'
[main]
plugins=keyfile
dns=none
rc-manager=unmanaged
hostname-mode=none
no-auto-default=*
auth-polkit=false

[logging]
level=INFO
CONF
  fi
  # Detached from our stdio, so whoever started it (init.sh, the agent via systemctl) does not wait for it.
  setsid /usr/sbin/NetworkManager --no-daemon --config="$conf" </dev/null >>"$log" 2>&1 &
  echo $! >"$pid_file"
  # Like systemd with NetworkManager's unit: return once it answers on the bus and finished starting.
  if nm-online -s -q -t 10; then return 0; fi
  echo "network-manager.sh: NetworkManager did not start, see $log" >&2
  return 1
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  running) running ;;
  *)
    echo "usage: network-manager.sh start|stop|running" >&2
    exit 2
    ;;
esac
