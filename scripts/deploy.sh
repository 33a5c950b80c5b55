#!/usr/bin/env bash
# Builds the multinic-agent image, ships it to every node when SSH_PASSWORD is set, and installs or
# upgrades the Helm release (never uninstalling first, so the agents are replaced one node at a time).
#
#   ./scripts/deploy.sh
#   NAMESPACE=multinic-prod IMAGE_TAG=v2.0.0 ./scripts/deploy.sh
#
# Settings (environment):
#   NAMESPACE      Kubernetes namespace, created when missing        (multinic-system)
#   RELEASE        Helm release name                                 (multinic-agent)
#   IMAGE_REPO     image name, with a registry to push to            (multinic-agent)
#   IMAGE_TAG      image tag                                         (the version in package.json)
#   BUILDER        docker or nerdctl                                 (docker if installed, else nerdctl)
#   PUSH           1: push the image to IMAGE_REPO's registry after building
#   SSH_PASSWORD   set: copy the image to every node over SSH and import it into containerd (k8s.io)
#   SSH_USER       user on the nodes; not root means `sudo -n` there  (root)
#   SSH_OPTS       extra ssh/scp options                              (-o StrictHostKeyChecking=accept-new)
#   VALUES         a values file for the release, in addition to deployments/helm/values.yaml
#   HELM_TIMEOUT   how long helm waits for every agent to be ready   (10m)
#
# The SSH password reaches sshpass through its environment (SSHPASS, `sshpass -e`), never as an
# argument, so it does not show in `ps`.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CHART="$ROOT/deployments/helm"
NAMESPACE=${NAMESPACE:-multinic-system}
RELEASE=${RELEASE:-multinic-agent}
IMAGE_REPO=${IMAGE_REPO:-multinic-agent}
HELM_TIMEOUT=${HELM_TIMEOUT:-10m}
SSH_USER=${SSH_USER:-root}
SSH_OPTS=${SSH_OPTS:--o StrictHostKeyChecking=accept-new}
REMOTE_TAR=/tmp/multinic-agent-image.tar
WORKDIR=''

say() { printf 'deploy: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

package_version() {
  sed -n 's/^  "version": "\([^"]*\)",\{0,1\}$/\1/p' "$ROOT/package.json" | head -n 1
}

choose_builder() {
  if [ -n "${BUILDER:-}" ]; then
    case "$BUILDER" in
      docker | nerdctl) have "$BUILDER" || die "BUILDER=$BUILDER, but $BUILDER is not installed" ;;
      *) die "BUILDER must be docker or nerdctl, got '$BUILDER'" ;;
    esac
    printf '%s\n' "$BUILDER"
  elif have docker; then
    printf 'docker\n'
  elif have nerdctl; then
    printf 'nerdctl\n'
  else
    die "neither docker nor nerdctl is installed: one of them builds the image"
  fi
}

check_tools() {
  local tool missing=()
  for tool in helm kubectl "$@"; do
    have "$tool" || missing+=("$tool")
  done
  [ "${#missing[@]}" -eq 0 ] || die "missing on PATH: ${missing[*]}"
}

# InternalIP of every node, one per line.
node_addresses() {
  kubectl get nodes -o jsonpath='{range .items[*]}{.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}'
}

ship_to_nodes() {
  local builder=$1 image=$2 workdir=$3 addresses address import ssh_opts
  addresses=$(node_addresses) || die "kubectl get nodes failed: is the cluster reachable?"
  addresses=$(printf '%s\n' "$addresses" | sed '/^[[:space:]]*$/d')
  [ -n "$addresses" ] || die "kubectl get nodes returned no InternalIP addresses"

  say "saving $image"
  "$builder" save -o "$workdir/image.tar" "$image"
  import="ctr -n k8s.io images import $REMOTE_TAR && rm -f $REMOTE_TAR"
  [ "$SSH_USER" = root ] || import="sudo -n ctr -n k8s.io images import $REMOTE_TAR && rm -f $REMOTE_TAR"

  export SSHPASS=$SSH_PASSWORD
  read -r -a ssh_opts <<<"$SSH_OPTS"
  while IFS= read -r address; do
    say "loading $image on node $address"
    sshpass -e scp "${ssh_opts[@]}" "$workdir/image.tar" "$SSH_USER@$address:$REMOTE_TAR" ||
      die "copying the image to $address failed"
    sshpass -e ssh "${ssh_opts[@]}" "$SSH_USER@$address" "$import" ||
      die "importing the image into containerd on $address failed"
  done <<<"$addresses"
}

# The image's ID as a pod annotation: a rebuilt image under the same tag still rolls the agents.
image_id() {
  local builder=$1 image=$2
  "$builder" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true
}

main() {
  local builder tag image id
  builder=$(choose_builder)
  if [ -n "${SSH_PASSWORD:-}" ]; then check_tools sshpass ssh scp; else check_tools; fi
  [ -f "$CHART/Chart.yaml" ] || die "no Helm chart at $CHART"

  tag=${IMAGE_TAG:-$(package_version)}
  [ -n "$tag" ] || die "IMAGE_TAG is empty and package.json has no version"
  image="$IMAGE_REPO:$tag"

  say "building $image with $builder"
  "$builder" build -t "$image" "$ROOT"
  if [ "${PUSH:-}" = 1 ]; then
    say "pushing $image"
    "$builder" push "$image"
  fi

  WORKDIR=$(mktemp -d)
  trap 'rm -rf "$WORKDIR"' EXIT
  if [ -n "${SSH_PASSWORD:-}" ]; then
    ship_to_nodes "$builder" "$image" "$WORKDIR"
  elif [ "${PUSH:-}" != 1 ]; then
    say "SSH_PASSWORD is not set and PUSH is not 1: every node must already have $image"
  fi

  local helm_args=(upgrade --install "$RELEASE" "$CHART"
    --namespace "$NAMESPACE" --create-namespace
    --set-string "image.repository=$IMAGE_REPO" --set-string "image.tag=$tag"
    --wait --timeout "$HELM_TIMEOUT")
  [ -z "${VALUES:-}" ] || helm_args+=(--values "$VALUES")
  id=$(image_id "$builder" "$image")
  [ -z "$id" ] || helm_args+=(--set-string "podAnnotations.multinic-agent/image-id=$id")

  say "installing or upgrading release $RELEASE in namespace $NAMESPACE"
  helm "${helm_args[@]}"

  say "done. Check the agents with:"
  printf '  kubectl get daemonset -n %s -l app.kubernetes.io/instance=%s\n' "$NAMESPACE" "$RELEASE" >&2
  printf '  kubectl get pods -n %s -l app.kubernetes.io/instance=%s -o wide\n' "$NAMESPACE" "$RELEASE" >&2
}

main "$@"
