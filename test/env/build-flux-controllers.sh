#!/usr/bin/env bash
# Builds Flux's own source-controller and kustomize-controller from the Go module proxy, once per user,
# into ${SLUICE_CACHE}/flux-controllers/<source>-<kustomize>/. Benchmark-only (bench/flux-baseline.bench.ts
# runs them next to Sluice as the baseline); CI and the test bed do not need them.
#
# Why a wrapper module: `go install pkg@version` refuses modules whose go.mod has `replace` lines, and both
# controllers carry some. The wrapper requires both and repeats their replaces, except `./api`, which points
# into the controller's own tree: without it the published api module that go.mod pins is used instead.
# Versions: later source-controller patches need a fluxcd/pkg/artifact version the proxy refuses, and
# v1.10 needs Go 1.27.
set -euo pipefail
SOURCE_VERSION="${SLUICE_FLUX_SOURCE_CONTROLLER_VERSION:-v1.9.3}"
KUSTOMIZE_VERSION="${SLUICE_FLUX_KUSTOMIZE_CONTROLLER_VERSION:-v1.9.4}"
CACHE="${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}"
OUT="$CACHE/flux-controllers/$SOURCE_VERSION-$KUSTOMIZE_VERSION"
if [[ -x "$OUT/source-controller" && -x "$OUT/kustomize-controller" ]]; then
  echo "build-flux-controllers: found in $OUT"
  exit 0
fi
command -v go >/dev/null || { echo "build-flux-controllers: Go is required (install Go >= 1.26)" >&2; exit 1; }
mkdir -p "$OUT"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "build-flux-controllers: building source-controller $SOURCE_VERSION and kustomize-controller $KUSTOMIZE_VERSION (slow the first time)"
cd "$WORK"
cat >go.mod <<GOMOD
module sluice.local/flux-controllers

go 1.26.0

require (
	github.com/fluxcd/source-controller $SOURCE_VERSION
	github.com/fluxcd/kustomize-controller $KUSTOMIZE_VERSION
)

// Both controllers' go.mod replaces, minus their ./api ones.
replace github.com/opencontainers/go-digest => github.com/opencontainers/go-digest v1.0.1-0.20220411205349-bde1400a84be

replace (
	sigs.k8s.io/kustomize/api => sigs.k8s.io/kustomize/api v0.21.1
	sigs.k8s.io/kustomize/kyaml => sigs.k8s.io/kustomize/kyaml v0.21.1
)

replace gopkg.in/yaml.v3 => gopkg.in/yaml.v3 v3.0.1
GOMOD
export CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=mod"
for name in source-controller kustomize-controller; do
  go build -trimpath -ldflags "-s -w" -o "$OUT/$name.tmp" "github.com/fluxcd/$name"
  mv "$OUT/$name.tmp" "$OUT/$name"
done
echo "build-flux-controllers: done -> $OUT"
