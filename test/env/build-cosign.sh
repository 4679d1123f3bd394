#!/usr/bin/env bash
# Builds the real `cosign` from the Go module proxy, once per user, into ${SLUICE_CACHE}/cosign/<version>/:
# tests sign artifacts in the test bed's registry with it, so Sluice's signature verification is checked
# against the signer Flux's source-controller v1.9.4 pins (github.com/sigstore/cosign/v3 v3.0.6).
set -euo pipefail
COSIGN_VERSION="${SLUICE_COSIGN_VERSION:-v3.0.6}"
CACHE="${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}"
OUT="$CACHE/cosign/$COSIGN_VERSION"
if [[ -x "$OUT/cosign" ]]; then
  echo "build-cosign: cosign $COSIGN_VERSION found in $OUT"
  exit 0
fi
command -v go >/dev/null || { echo "build-cosign: Go is required to build cosign (install Go >= 1.26)" >&2; exit 1; }
mkdir -p "$OUT"
echo "build-cosign: building cosign $COSIGN_VERSION (a few minutes the first time)"
export CGO_ENABLED=0 GOFLAGS="-buildvcs=false"
GOBIN="$OUT" go install -trimpath "github.com/sigstore/cosign/v3/cmd/cosign@$COSIGN_VERSION"
echo "build-cosign: done -> $OUT"
