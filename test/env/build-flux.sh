#!/usr/bin/env bash
# Builds Flux's own CLI from the Go module proxy, once per user, into ${SLUICE_CACHE}/flux/<version>/:
# the CLI tests compare `sluice`'s flags, `create … --export` and `build kustomization` with it.
#
# Why a copy of the module, not `go install`: cmd/flux embeds manifests/*.yaml, which flux's Makefile
# generates and the module zip leaves out, so the package does not compile as published. Only
# `flux install` and `bootstrap` read those manifests; one placeholder file lets the rest build.
# Built inside its own module, flux2's go.mod (with its one `replace`) pins every dependency.
set -euo pipefail
FLUX_VERSION="${SLUICE_FLUX_VERSION:-v2.9.5}"
CACHE="${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}"
OUT="$CACHE/flux/$FLUX_VERSION"
if [[ -x "$OUT/flux" ]]; then
  echo "build-flux: flux $FLUX_VERSION found in $OUT"
  exit 0
fi
command -v go >/dev/null || { echo "build-flux: Go is required to build flux (install Go >= 1.26)" >&2; exit 1; }
mkdir -p "$OUT"
WORK="$(mktemp -d)"
trap 'chmod -R u+w "$WORK"; rm -rf "$WORK"' EXIT
echo "build-flux: building flux $FLUX_VERSION (a few minutes the first time)"
dir="$(go mod download -json "github.com/fluxcd/flux2/v2@$FLUX_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
cp -R "$dir" "$WORK/flux2" && chmod -R u+w "$WORK/flux2"
cd "$WORK/flux2"
mkdir -p cmd/flux/manifests
printf '# placeholder: flux install/bootstrap manifests are not built for the test bed\n' >cmd/flux/manifests/placeholder.yaml
CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=mod" \
  go build -trimpath -ldflags "-s -w -X main.VERSION=${FLUX_VERSION#v}" -o "$OUT/flux.tmp" ./cmd/flux
mv "$OUT/flux.tmp" "$OUT/flux"
echo "build-flux: done -> $OUT"
