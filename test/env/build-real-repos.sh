#!/usr/bin/env bash
# Builds the two real repositories of bench/real-repos.bench.ts once per user into ${SLUICE_CACHE}/real-repos/
# (bare repositories the test bed's Git server serves), from the Go module proxy, the one registry here that
# carries these sources (GitHub is not reachable; nothing is committed to Sluice):
#
# - podinfo.git: stefanprodan/podinfo's real tree (the commit build-podinfo-chart.sh pins, chart 6.9.2), then
#   release commits that bump its version where podinfo's own releases do (version.go, the chart, kustomize/,
#   deploy/, timoni/). The proxy serves podinfo at that one commit only, so the history after the first commit
#   is generated: real files, made-up releases.
# - client-go.git: a monorepo-sized history, k8s.io/client-go's tagged versions (about 2,400 files each) in
#   order, one commit per version dated as the proxy dates it. Every zip is checked against the Go checksum
#   database by `go mod download`; the version list is pinned here, so every machine builds the same commits.
#
# Benchmark-only (about 450 MB of downloads, 10 minutes), so not part of install.sh.
set -euo pipefail
CACHE="${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}"
OUT="$CACHE/real-repos"
PODINFO_MODULE="github.com/stefanprodan/podinfo"
PODINFO_MODULE_VERSION="v1.8.1-0.20250910200901-e86405a8674e"
PODINFO_MODULE_SUM="h1:ikpMMm5HbQT/1DehrPM+Lpwk3WAw/1Hg540eR+jsXus="
PODINFO_GOMOD_SUM="h1:s4YUM6bHf4Wucdjs6+6VjO0zSpAwKXaADrjBU6Zv2LI="
PODINFO_VERSION="6.9.2"
PODINFO_RELEASES=60
# `go list -m -versions k8s.io/client-go` on 2026-12-02 (the proxy's known tags from v0.20 on), in semver order.
CLIENT_GO_VERSIONS="v0.20.1 v0.20.4 v0.20.6 v0.21.1 v0.22.1 v0.22.5 v0.23.3 v0.23.4 v0.23.5 v0.23.16 v0.24.2
v0.25.0-alpha.2 v0.25.3 v0.25.4 v0.25.5 v0.25.9 v0.26.0 v0.26.1 v0.26.2 v0.26.3 v0.26.9 v0.27.3 v0.28.1 v0.28.2
v0.28.3 v0.28.8 v0.29.0 v0.29.1 v0.29.2 v0.29.3 v0.29.4 v0.29.6 v0.29.13 v0.29.15 v0.30.0 v0.30.1 v0.30.2 v0.30.3
v0.30.4 v0.30.14 v0.31.0 v0.31.1 v0.31.2 v0.31.3 v0.31.4 v0.31.14 v0.32.0 v0.32.1 v0.32.2 v0.32.3 v0.32.9 v0.32.11
v0.32.12 v0.32.13 v0.33.0 v0.33.1 v0.33.2 v0.33.4 v0.33.5 v0.33.7 v0.33.8 v0.33.10 v0.33.11 v0.33.12 v0.33.13
v0.34.0 v0.34.1 v0.34.2 v0.34.3 v0.34.4 v0.34.6 v0.34.7 v0.34.8 v0.34.9 v0.34.10 v0.34.11 v0.34.12 v0.34.13
v0.35.0-alpha.2 v0.35.0-alpha.3 v0.35.0-beta.0 v0.35.0-rc.0 v0.35.0-rc.1 v0.35.0 v0.35.1 v0.35.2 v0.35.3 v0.35.4
v0.35.5 v0.35.6 v0.35.7 v0.35.8 v0.35.9 v0.35.10 v0.36.0-alpha.0 v0.36.0-alpha.1 v0.36.0-alpha.2 v0.36.0-beta.0
v0.36.0-rc.0 v0.36.0-rc.1 v0.36.0 v0.36.1 v0.36.2 v0.36.3 v0.36.4 v0.36.5 v0.36.6 v0.37.0-alpha.1 v0.37.0-alpha.2
v0.37.0-alpha.3 v0.37.0-beta.0 v0.37.0-rc.0 v0.37.0-rc.1 v0.37.0 v0.37.1 v0.37.2"
if [[ -d "$OUT/podinfo.git" && -d "$OUT/client-go.git" ]]; then
  echo "build-real-repos: podinfo.git and client-go.git found in $OUT"
  exit 0
fi
command -v go >/dev/null || { echo "build-real-repos: Go is required (install Go >= 1.26)" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
# A private module cache, deleted at the end; each version's unpacked folder goes once committed.
export GOMODCACHE="$WORK/modcache" GOFLAGS="-mod=readonly"
export GIT_AUTHOR_NAME="Sluice test bed" GIT_AUTHOR_EMAIL="testbed@sluice.invalid"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"

# Replaces the work tree of the repository in $1 with the folder $2 and commits it as message $3 at date $4.
commit_tree() {
  local repo="$1" from="$2" message="$3" date="$4"
  find "$repo" -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +
  cp -R "$from/." "$repo/"
  chmod -R u+w "$repo"
  git -C "$repo" add --all
  GIT_AUTHOR_DATE="$date" GIT_COMMITTER_DATE="$date" git -C "$repo" commit --quiet --allow-empty -m "$message"
}

# Commits the folder $2 as the whole tree of the repository in $1 (git reads it in place: no copy), as message $3
# at date $4.
commit_folder() {
  git -C "$1" --work-tree="$2" add --all
  GIT_AUTHOR_DATE="$4" GIT_COMMITTER_DATE="$4" git -C "$1" --work-tree="$2" commit --quiet --allow-empty -m "$3"
}

# Packs the repository in $1 into the bare repository $2 (written whole, then moved into place).
publish() {
  git clone --quiet --bare "$1" "$WORK/publish.git"
  git -C "$WORK/publish.git" remote remove origin
  git -C "$WORK/publish.git" gc --quiet --prune=now
  rm -rf "$2"
  mv "$WORK/publish.git" "$2"
}

# Downloads module@version $1 (verified against the checksum database) and prints "<unpacked folder> <time>".
download() {
  mkdir -p "$WORK/dl" # no go.mod there: nothing to record the download in
  local json info
  json="$(cd "$WORK/dl" && go mod download -json "$1")"
  info="$(sed -n 's/.*"Info": "\(.*\)".*/\1/p' <<<"$json")"
  echo "$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' <<<"$json") $(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$info")"
}

if [[ ! -d "$OUT/podinfo.git" ]]; then
  (
    cd "$WORK"
    go mod init sluice.local/real-repos >/dev/null 2>&1
    echo "require $PODINFO_MODULE $PODINFO_MODULE_VERSION" >>go.mod
    printf '%s %s %s\n%s %s/go.mod %s\n' \
      "$PODINFO_MODULE" "$PODINFO_MODULE_VERSION" "$PODINFO_MODULE_SUM" \
      "$PODINFO_MODULE" "$PODINFO_MODULE_VERSION" "$PODINFO_GOMOD_SUM" >go.sum
    go mod download "$PODINFO_MODULE"
    go mod verify >/dev/null
  )
  read -r src _ <<<"$(download "$PODINFO_MODULE@$PODINFO_MODULE_VERSION")"
  repo="$WORK/podinfo"
  git init --quiet --initial-branch=master "$repo"
  commit_tree "$repo" "$src" "Release $PODINFO_VERSION" "2025-09-10T20:09:01Z"
  files="$(grep -rlF "$PODINFO_VERSION" "$repo" --exclude-dir=.git)"
  previous="$PODINFO_VERSION"
  for ((i = 1; i < PODINFO_RELEASES; i++)); do
    next="6.10.$i"
    # shellcheck disable=SC2086 # one path per line, none with spaces
    sed -i "s/${previous//./\\.}/$next/g" $files
    git -C "$repo" add --all
    day="$(date -u -d "2025-09-10 + $i days" +%Y-%m-%dT12:00:00Z)"
    GIT_AUTHOR_DATE="$day" GIT_COMMITTER_DATE="$day" git -C "$repo" commit --quiet -m "Release $next"
    previous="$next"
  done
  publish "$repo" "$OUT/podinfo.git"
  echo "build-real-repos: podinfo.git, $PODINFO_RELEASES commits"
fi

if [[ ! -d "$OUT/client-go.git" ]]; then
  repo="$WORK/client-go"
  git init --quiet --initial-branch=master "$repo"
  # All versions at once first: the go command downloads and checks them in parallel.
  # shellcheck disable=SC2086 # the list splits on whitespace
  (mkdir -p "$WORK/dl" && cd "$WORK/dl" && go mod download $(printf 'k8s.io/client-go@%s ' $CLIENT_GO_VERSIONS))
  count=0
  for version in $CLIENT_GO_VERSIONS; do
    read -r dir time <<<"$(download "k8s.io/client-go@$version")"
    [[ -d "$dir" && -n "$time" ]] || { echo "build-real-repos: k8s.io/client-go@$version did not download" >&2; exit 1; }
    commit_folder "$repo" "$dir" "k8s.io/client-go $version" "$time"
    chmod -R u+w "$dir" && rm -rf "$dir"
    count=$((count + 1))
  done
  publish "$repo" "$OUT/client-go.git"
  echo "build-real-repos: client-go.git, $count commits"
fi
