#!/usr/bin/env bash
# Builds `crane` (google/go-containerregistry) from the Go module proxy, once per user, into
# ${SLUICE_CACHE}/crane/<version>/: the image benchmark compares a scan with `crane ls`, the baseline issue 17 names.
# Benchmark only: no test needs it, so neither install.sh nor CI builds it.
set -euo pipefail
CRANE_VERSION="${SLUICE_CRANE_VERSION:-v0.22.1}"
CACHE="${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}"
OUT="$CACHE/crane/$CRANE_VERSION"
if [[ -x "$OUT/crane" ]]; then
  echo "build-crane: crane $CRANE_VERSION found in $OUT"
  exit 0
fi
command -v go >/dev/null || { echo "build-crane: Go is required to build crane (install Go >= 1.26)" >&2; exit 1; }
mkdir -p "$OUT"
echo "build-crane: building crane $CRANE_VERSION"
export CGO_ENABLED=0 GOFLAGS="-buildvcs=false"
GOBIN="$OUT" go install -trimpath "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION"
echo "build-crane: done -> $OUT"
