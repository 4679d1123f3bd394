#!/usr/bin/env bash
# Builds the real `sops` and `age-keygen` from the Go module proxy, once per user, into
# ${SLUICE_CACHE}/sops/<version>/: tests encrypt fixtures with them, so Sluice's own SOPS
# decryption is checked against the reference implementation.
set -euo pipefail
SOPS_VERSION="${SLUICE_SOPS_VERSION:-v3.13.3}"
AGE_VERSION="${SLUICE_AGE_VERSION:-v1.3.2}"
CACHE="${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}"
OUT="$CACHE/sops/$SOPS_VERSION"
if [[ -x "$OUT/sops" && -x "$OUT/age-keygen" ]]; then
  echo "build-sops: sops $SOPS_VERSION and age-keygen found in $OUT"
  exit 0
fi
command -v go >/dev/null || { echo "build-sops: Go is required to build sops (install Go >= 1.26)" >&2; exit 1; }
mkdir -p "$OUT"
echo "build-sops: building sops $SOPS_VERSION and age-keygen $AGE_VERSION (a few minutes the first time)"
export CGO_ENABLED=0 GOFLAGS="-buildvcs=false"
GOBIN="$OUT" go install "github.com/getsops/sops/v3/cmd/sops@$SOPS_VERSION"
GOBIN="$OUT" go install "filippo.io/age/cmd/age-keygen@$AGE_VERSION"
echo "build-sops: done -> $OUT"
