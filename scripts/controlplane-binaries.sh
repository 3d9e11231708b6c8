#!/usr/bin/env bash
# Builds kube-apiserver and etcd from the Go module proxy at pinned versions and
# caches them outside the repository, keyed by version. Prints the directory that
# holds both binaries on its last line of stdout (everything else goes to stderr).
#
# Honours KUBEBUILDER_ASSETS (the envtest convention): when it names a directory
# holding kube-apiserver and etcd, nothing is built.
set -euo pipefail

KUBERNETES_VERSION="${KUBERNETES_VERSION:-v1.36.3}"
CACHE_ROOT="${CLUSTERREGISTRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/clusterregistry}"

log() { printf '[controlplane] %s\n' "$*" >&2; }

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  if [[ -x "$KUBEBUILDER_ASSETS/kube-apiserver" && -x "$KUBEBUILDER_ASSETS/etcd" ]]; then
    log "using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
    echo "$KUBEBUILDER_ASSETS"
    exit 0
  fi
  log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS does not hold executable kube-apiserver and etcd"
  exit 1
fi

if ! command -v go >/dev/null 2>&1; then
  cat >&2 <<MSG
[controlplane] cannot find kube-apiserver and etcd. Either:
  - install Go 1.26 or newer (https://go.dev/dl/) so this script can build them from the Go module proxy, or
  - set KUBEBUILDER_ASSETS to a directory holding kube-apiserver and etcd binaries
    (for example the one printed by: setup-envtest use -p path ${KUBERNETES_VERSION#v}).
MSG
  exit 1
fi

# Go settings that avoid surprises: never download a toolchain, let go.mod/go.sum be
# written, no cgo; the checksum database is not always reachable, the proxy is.
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
export GOSUMDB="${GOSUMDB:-off}"

k8s_minor="${KUBERNETES_VERSION#v1.}"          # 36.3
staging_version="v0.${k8s_minor}"              # v0.36.3

# The etcd version comes from the Kubernetes release's own go.mod, so the pair never drifts.
k8s_gomod="$(go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
ETCD_VERSION="${ETCD_VERSION:-$(awk '$1 == "go.etcd.io/etcd/server/v3" {print $2; exit}' "$k8s_gomod")}"

out="$CACHE_ROOT/controlplane/kubernetes-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}"
if [[ -x "$out/kube-apiserver" && -x "$out/etcd" ]]; then
  log "cached: $out"
  echo "$out"
  exit 0
fi

mkdir -p "$out"
work="$(mktemp -d "$CACHE_ROOT/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
start=$SECONDS

# Progress for the long first build: go build -v names each package as it compiles.
progress() {
  local what="$1" n=0
  while IFS= read -r line; do
    n=$((n + 1))
    if (( n % 200 == 0 )); then log "$what: $n packages compiled ($((SECONDS - start)) s)"; fi
    # Package names are progress; compiler diagnostics (file.go:line:col) are shown whole.
    if [[ "$line" =~ \.go:[0-9]+ || "$line" == *"go: "* ]]; then printf '%s\n' "$line" >&2; fi
  done
  log "$what: $n packages compiled"
}

if [[ ! -x "$out/etcd" ]]; then
  log "building etcd ${ETCD_VERSION} (first time only)"
  mkdir -p "$work/etcd"
  cat >"$work/etcd/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$work/etcd" &&
    go mod init clusterregistry.dev/controlplane/etcd >/dev/null 2>&1 &&
    go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" 2>&1 | grep -v '^go: \(downloading\|added\)' >&2 || true;
    go build -v -trimpath -ldflags "-s -w" -o "$out/etcd.tmp" . 2>&1 | progress etcd)
  mv "$out/etcd.tmp" "$out/etcd"
fi

if [[ ! -x "$out/kube-apiserver" ]]; then
  log "building kube-apiserver ${KUBERNETES_VERSION} (first time only; 4-5 min on 2 cores)"
  mkdir -p "$work/apiserver"
  {
    echo "module clusterregistry.dev/controlplane/kube-apiserver"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes ${KUBERNETES_VERSION}"
    echo
    echo "replace ("
    # Every staging repo that the release's go.mod points at ./staging is taken at v0.Y.Z.
    awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print "\t" $1 " => " $1 " '"$staging_version"'"}' "$k8s_gomod"
    echo ")"
  } >"$work/apiserver/go.mod"
  cat >"$work/apiserver/tools.go" <<'GO'
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
  pkg="k8s.io/component-base/version"
  ldflags="-s -w -X ${pkg}.gitVersion=${KUBERNETES_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${k8s_minor%%.*}"
  ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  (cd "$work/apiserver" &&
    log "resolving modules" &&
    { go mod tidy 2>&1 | grep -v '^go: \(downloading\|finding\|found\)' >&2 || true; } &&
    go build -v -trimpath -ldflags "$ldflags" -o "$out/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver 2>&1 | progress kube-apiserver)
  mv "$out/kube-apiserver.tmp" "$out/kube-apiserver"
fi

log "built in $((SECONDS - start)) s: $out"
echo "$out"
