#!/usr/bin/env bash
# Packages podinfo's real Helm chart (stefanprodan/podinfo, charts/podinfo) once per user into
# ${SLUICE_CACHE}/charts/: the Helm repository and the OCI registry of the test bed serve it, so
# HelmRelease tests install what Flux users install. The Go module proxy is the one registry here
# that carries podinfo's sources; nothing of podinfo is committed.
#
# The module is pinned by version and by its go.sum hash: a throwaway module with that go.sum makes
# `go mod download` refuse different bits (SECURITY ERROR) and `go mod verify` re-check the unpacked
# tree. Also writes 6.9.3: the same chart with only Chart.yaml's version changed, for upgrade tests, and keeps
# podinfo's deploy/ and kustomize/ folders in ${SLUICE_CACHE}/podinfo-src/ (test/render/target-namespace.test.ts
# renders them as Flux users point at them).
set -euo pipefail
PODINFO_MODULE="github.com/stefanprodan/podinfo"
PODINFO_MODULE_VERSION="v1.8.1-0.20250910200901-e86405a8674e" # charts/podinfo/Chart.yaml: version 6.9.2
PODINFO_MODULE_SUM="h1:ikpMMm5HbQT/1DehrPM+Lpwk3WAw/1Hg540eR+jsXus="
PODINFO_GOMOD_SUM="h1:s4YUM6bHf4Wucdjs6+6VjO0zSpAwKXaADrjBU6Zv2LI="
CHART_VERSION="6.9.2"
UPGRADE_VERSION="6.9.3"
CACHE="${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}"
OUT="$CACHE/charts"
SRC_OUT="$CACHE/podinfo-src/$CHART_VERSION"
if [[ -f "$OUT/podinfo-$CHART_VERSION.tgz" && -f "$OUT/podinfo-$UPGRADE_VERSION.tgz" && -d "$SRC_OUT" ]]; then
  echo "build-podinfo-chart: podinfo $CHART_VERSION and $UPGRADE_VERSION found in $OUT, its sources in $SRC_OUT"
  exit 0
fi
command -v go >/dev/null || { echo "build-podinfo-chart: Go is required to fetch podinfo's chart (install Go >= 1.26)" >&2; exit 1; }
root="$(cd "$(dirname "$0")/../.." && pwd)"
helm() { "$root/node_modules/node/bin/node" "$root/node_modules/tsx/dist/cli.mjs" "$root/test/env/helm-cli.ts" "$@"; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
go mod init sluice.local/testbed-podinfo >/dev/null 2>&1
echo "require $PODINFO_MODULE $PODINFO_MODULE_VERSION" >>go.mod
printf '%s %s %s\n%s %s/go.mod %s\n' \
  "$PODINFO_MODULE" "$PODINFO_MODULE_VERSION" "$PODINFO_MODULE_SUM" \
  "$PODINFO_MODULE" "$PODINFO_MODULE_VERSION" "$PODINFO_GOMOD_SUM" >go.sum
export GOFLAGS="-mod=readonly"
dir="$(go mod download -json "$PODINFO_MODULE" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
go mod verify >/dev/null
chart="$dir/charts/podinfo"
grep -qx "version: $CHART_VERSION" "$chart/Chart.yaml" || {
  echo "build-podinfo-chart: $chart/Chart.yaml is not version $CHART_VERSION" >&2
  exit 1
}
mkdir -p "$OUT" "$WORK/out" "$WORK/src" "$(dirname "$SRC_OUT")"
cp -R "$dir/deploy" "$dir/kustomize" "$WORK/src/"
chmod -R u+w "$WORK/src" # the module cache's files are read-only
rm -rf "$SRC_OUT"
mv "$WORK/src" "$SRC_OUT"
helm package "$chart" --destination "$WORK/out" >/dev/null
helm package "$chart" --version "$UPGRADE_VERSION" --destination "$WORK/out" >/dev/null
mv "$WORK/out/podinfo-$UPGRADE_VERSION.tgz" "$OUT/"
mv "$WORK/out/podinfo-$CHART_VERSION.tgz" "$OUT/"
echo "build-podinfo-chart: done -> $OUT/podinfo-{$CHART_VERSION,$UPGRADE_VERSION}.tgz"
