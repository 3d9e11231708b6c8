#!/usr/bin/env bash
# Builds prometheus and promtool from the Go module proxy at a pinned version and caches
# them outside the repository, keyed by version. Prints the directory that holds both
# binaries on its last line of stdout (everything else goes to stderr).
#
# Honours PROMETHEUS_BINARIES: when it names a directory holding prometheus and promtool,
# nothing is built.
#
# Prometheus tags its Go module v0.3MM.P for release 3.MM.P (github.com/prometheus/prometheus
# has no /v3 module path); the release's VERSION file inside the module is checked against it.
set -euo pipefail

PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-3.16.0}"
# netgo: the pure-Go resolver, as upstream releases use. remove_all_sd: leaves out the cloud
# service discoveries (AWS, Azure, GCE, Kubernetes…; static, file and http SD stay), which
# the tests do not use and which are most of the build. The web UI (builtinassets) is left
# out too: it needs a Node build of the React app, and the HTTP API works without it.
PROMETHEUS_BUILD_TAGS="${PROMETHEUS_BUILD_TAGS:-netgo,remove_all_sd}"
CACHE_ROOT="${CLUSTERREGISTRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/clusterregistry}"

log() { printf '[prometheus] %s\n' "$*" >&2; }

if [[ -n "${PROMETHEUS_BINARIES:-}" ]]; then
  if [[ -x "$PROMETHEUS_BINARIES/prometheus" && -x "$PROMETHEUS_BINARIES/promtool" ]]; then
    log "using PROMETHEUS_BINARIES=$PROMETHEUS_BINARIES ($("$PROMETHEUS_BINARIES/prometheus" --version 2>&1 | head -n1))"
    echo "$PROMETHEUS_BINARIES"
    exit 0
  fi
  log "PROMETHEUS_BINARIES=$PROMETHEUS_BINARIES does not hold executable prometheus and promtool"
  exit 1
fi

if [[ ! "$PROMETHEUS_VERSION" =~ ^3\.([0-9]+)\.([0-9]+)$ ]]; then
  log "PROMETHEUS_VERSION=$PROMETHEUS_VERSION: expected a 3.x.y release such as 3.16.0"
  exit 1
fi
minor="${BASH_REMATCH[1]}"
patch="${BASH_REMATCH[2]}"
MODULE_VERSION="v0.3$(printf '%02d' "$((10#$minor))").${patch}" # 3.16.0 -> v0.316.0

key="v${PROMETHEUS_VERSION}"
if [[ "$PROMETHEUS_BUILD_TAGS" != "netgo,remove_all_sd" ]]; then
  key+="_tags-${PROMETHEUS_BUILD_TAGS//,/-}"
fi
out="$CACHE_ROOT/prometheus/$key"
if [[ -x "$out/prometheus" && -x "$out/promtool" ]]; then
  log "cached: $out"
  echo "$out"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  cat >&2 <<MSG
[prometheus] cannot find prometheus and promtool. Either:
  - install Go 1.26 or newer (https://go.dev/dl/) so this script can build them from the Go module proxy, or
  - set PROMETHEUS_BINARIES to a directory holding prometheus and promtool binaries of release ${PROMETHEUS_VERSION}
    (for example the unpacked prometheus-${PROMETHEUS_VERSION}.linux-amd64.tar.gz from
    https://github.com/prometheus/prometheus/releases).
MSG
  exit 1
fi

# Go settings that avoid surprises: never download a toolchain, let go.mod/go.sum be
# written, no cgo; the checksum database is not always reachable, the proxy is.
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
export GOSUMDB="${GOSUMDB:-off}"

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

log "building prometheus and promtool ${PROMETHEUS_VERSION} (module ${MODULE_VERSION}, tags ${PROMETHEUS_BUILD_TAGS}; first time only)"
module_dir="$(go mod download -json "github.com/prometheus/prometheus@${MODULE_VERSION}" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
if [[ -z "$module_dir" ]]; then
  log "cannot download github.com/prometheus/prometheus@${MODULE_VERSION} from the Go module proxy"
  exit 1
fi
release="$(tr -d '[:space:]' <"$module_dir/VERSION")"
if [[ "$release" != "$PROMETHEUS_VERSION" ]]; then
  log "github.com/prometheus/prometheus@${MODULE_VERSION} is release $release, not $PROMETHEUS_VERSION"
  exit 1
fi

cat >"$work/go.mod" <<MOD
module clusterregistry.dev/prometheus

go 1.26

require github.com/prometheus/prometheus ${MODULE_VERSION}
MOD
cat >"$work/tools.go" <<'GO'
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
GO

pkg="github.com/prometheus/common/version"
ldflags="-s -w -X ${pkg}.Version=${PROMETHEUS_VERSION} -X ${pkg}.Revision=go-module-${MODULE_VERSION}"
ldflags+=" -X ${pkg}.Branch=HEAD -X ${pkg}.BuildUser=clusterregistry -X ${pkg}.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)"
(cd "$work" &&
  log "resolving modules" &&
  { go mod tidy 2>&1 | grep -v '^go: \(downloading\|finding\|found\)' >&2 || true; } &&
  go build -v -trimpath -tags "$PROMETHEUS_BUILD_TAGS" -ldflags "$ldflags" -o "$work/bin/" \
    github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool 2>&1 |
  progress "prometheus+promtool")

for binary in prometheus promtool; do
  if [[ ! -x "$work/bin/$binary" ]]; then
    log "the build did not produce $binary; see the messages above"
    exit 1
  fi
  reported="$("$work/bin/$binary" --version 2>&1 | head -n1)"
  if [[ "$reported" != "$binary, version ${PROMETHEUS_VERSION} "* ]]; then
    log "$binary --version says '$reported', expected version ${PROMETHEUS_VERSION}"
    exit 1
  fi
  log "$reported"
done
# promtool last: a cache hit needs both, and each mv is atomic.
mv "$work/bin/prometheus" "$out/prometheus"
mv "$work/bin/promtool" "$out/promtool"

log "built in $((SECONDS - start)) s: $out"
echo "$out"
