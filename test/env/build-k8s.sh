#!/usr/bin/env bash
# Builds the test bed's Kubernetes control plane (kube-apiserver, kube-controller-manager) and etcd
# from the Go module proxy, once per user, into ${SLUICE_CACHE}/k8s/<version>/.
# Skipped entirely when KUBEBUILDER_ASSETS points at a folder that already has the binaries.
#
# Why a wrapper module: k8s.io/kubernetes requires its ~30 staging modules at v0.0.0 and maps them
# to local folders with `replace`, which a dependent module ignores; so we re-pin each one to the
# matching published v0.x version. The list is read from kubernetes' own go.mod, never typed.
set -euo pipefail

K8S_VERSION="${SLUICE_K8S_VERSION:-v1.36.3}"
ETCD_VERSION="${SLUICE_ETCD_VERSION:-v3.6.16}"
CACHE="${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}"
OUT="$CACHE/k8s/$K8S_VERSION"

# A binary is "had" when KUBEBUILDER_ASSETS (the envtest convention) or the cache has it. Envtest's
# assets have no kube-controller-manager, so that one may still be built when the rest are given.
have() { [[ ( -n "${KUBEBUILDER_ASSETS:-}" && -x "$KUBEBUILDER_ASSETS/$1" ) || -x "$OUT/$1" ]]; }
need_k8s=()
for cmd in kube-apiserver kube-controller-manager; do have "$cmd" || need_k8s+=("$cmd"); done
need_etcd=true; have etcd && need_etcd=false
if [[ ${#need_k8s[@]} -eq 0 && $need_etcd == false ]]; then
  echo "build-k8s: kube-apiserver, kube-controller-manager and etcd found (${KUBEBUILDER_ASSETS:+KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS, }cache $OUT)"
  exit 0
fi
command -v go >/dev/null || { echo "build-k8s: Go is required to build kube-apiserver (install Go >= 1.26, or set KUBEBUILDER_ASSETS)" >&2; exit 1; }

mkdir -p "$OUT"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export GOFLAGS="-buildvcs=false -mod=mod"
export CGO_ENABLED=0

# --- kube-apiserver + kube-controller-manager -------------------------------------------------
if [[ ${#need_k8s[@]} -gt 0 ]]; then
staging_version="v0${K8S_VERSION#v1}" # v1.36.3 -> v0.36.3
mkdir -p "$WORK/k8s" && cd "$WORK/k8s"
go mod init sluice.local/testbed-k8s >/dev/null 2>&1
gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
{
  echo "require k8s.io/kubernetes $K8S_VERSION"
  grep -E '^\s+k8s\.io/[a-z0-9-]+ v0\.0\.0$' "$gomod" | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
} >>go.mod
cat >tools.go <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
EOF
echo "build-k8s: resolving k8s.io/kubernetes $K8S_VERSION modules"
go mod tidy -e >/dev/null 2>&1 || true
minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
for cmd in "${need_k8s[@]}"; do
  echo "build-k8s: building $cmd $K8S_VERSION (several minutes on 2 cores the first time)"
  go build -trimpath -ldflags "$ldflags" -o "$OUT/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
  mv "$OUT/$cmd.tmp" "$OUT/$cmd"
done
fi

# --- etcd ---------------------------------------------------------------------------------------
# `go install go.etcd.io/etcd/...` is refused because of etcd's own replace directives; a tiny main
# calling etcdmain.Main is the supported embedding.
if [[ $need_etcd == true ]]; then
mkdir -p "$WORK/etcd" && cd "$WORK/etcd"
go mod init sluice.local/testbed-etcd >/dev/null 2>&1
cat >main.go <<'EOF'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >"$WORK/go-get.log" 2>&1 || { cat "$WORK/go-get.log" >&2; exit 1; }
go mod tidy >/dev/null 2>&1
echo "build-k8s: building etcd $ETCD_VERSION"
go build -trimpath -ldflags "-s -w" -o "$OUT/etcd.tmp" .
mv "$OUT/etcd.tmp" "$OUT/etcd"
fi

echo "build-k8s: done -> $OUT"
