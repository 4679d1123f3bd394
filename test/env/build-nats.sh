#!/usr/bin/env bash
# Builds the real `nats-server` from the Go module proxy, once per user, into
# ${SLUICE_CACHE}/nats/<version>/: the nats Provider type is tested against it.
set -euo pipefail
NATS_VERSION="${SLUICE_NATS_VERSION:-v2.15.3}"
CACHE="${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}"
OUT="$CACHE/nats/$NATS_VERSION"
if [[ -x "$OUT/nats-server" ]]; then
  echo "build-nats: nats-server $NATS_VERSION found in $OUT"
  exit 0
fi
command -v go >/dev/null || { echo "build-nats: Go is required to build nats-server (install Go >= 1.26)" >&2; exit 1; }
mkdir -p "$OUT"
echo "build-nats: building nats-server $NATS_VERSION (a minute or two the first time)"
export CGO_ENABLED=0 GOFLAGS="-buildvcs=false"
GOBIN="$OUT" go install "github.com/nats-io/nats-server/v2@$NATS_VERSION"
echo "build-nats: done -> $OUT"
